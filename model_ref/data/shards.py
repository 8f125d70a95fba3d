"""Read vlforge shards where they lie: find the Parquet files, index their rows into pools, read rows back.

No conversion step: the index is built from the small columns (no image bytes) of each row group,
and a row is read back by (file, row group, row) when a batch needs it, a row group at a time,
so memory holds a few row groups whatever the corpus size. A row belongs to the pools it can
serve:

- `language`: no image, some text (text-only language modelling);
- `image_text`: an image and its text (a page's text layer, a figure's caption, a chart's title);
- `interleaved`: a `document` (kind) whose text places at least one image (an `<image>` paragraph
  per entry of its `images`); a document left with no image is text and joins `language`;
- `sft_image` / `sft_text`: `messages` with at least one non-empty assistant answer, with or
  without an image.

Rows with `keep == false` (if a shard holds any) belong to no pool.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from model_ref.data.documents import marker_count

POOLS = ("language", "image_text", "interleaved", "sft_image", "sft_text")
INDEX_COLUMNS = ["id", "kind", "width", "keep", "text", "messages"]
ROW_COLUMNS = ["id", "image", "images", "text", "table", "messages"]
DOCUMENT_KIND = "document"  # the shard format's interleaved kind
HELDOUT_PERCENT = 10  # share of rows held out by id when no data folder has a second shard


def shard_files(data: Path) -> list[Path]:
    """The Parquet shards of one data path: `DIR/shards/part-*.parquet` (a vlforge output), else
    `DIR/*.parquet`, else the path itself when it is a Parquet file."""
    data = Path(data)
    if data.is_file() and data.suffix == ".parquet":
        return [data]
    for pattern in ("shards/part-*.parquet", "*.parquet"):
        files = sorted(data.glob(pattern))
        if files:
            return files
    raise FileNotFoundError(f"no Parquet shards in {data} (expected {data}/shards/part-*.parquet)")


@dataclass
class ShardIndex:
    """Every usable row of the data paths, as (file, row group, row) triples per pool, split into
    training and held-out rows."""

    files: list[str]
    train: dict[str, np.ndarray] = field(default_factory=dict)  # pool -> (n, 3) int64
    heldout: dict[str, np.ndarray] = field(default_factory=dict)
    heldout_rule: str = ""
    heldout_files: list[str] = field(default_factory=list)  # whole shards held out (empty: held out by id)

    def describe(self) -> str:
        """One line per split with the rows per pool, for the run's start-up message."""
        def counts(pools: dict[str, np.ndarray]) -> str:
            return ", ".join(f"{name} {len(pools[name])}" for name in POOLS)
        return f"{len(self.files)} shards; train: {counts(self.train)}; held out ({self.heldout_rule}): " \
               f"{counts(self.heldout)}"


def build_index(data_paths: list[Path]) -> ShardIndex:
    """Index the rows of every shard of `data_paths`. The held-out set is the last shard of each data
    path that has at least two; when none has, it is the rows whose id hashes into the first
    HELDOUT_PERCENT of 100 buckets (stable across runs either way)."""
    per_path = [shard_files(p) for p in data_paths]
    files = [str(f) for group in per_path for f in group]
    heldout_files = {str(group[-1]) for group in per_path if len(group) >= 2}
    rule = "the last shard of each data folder with two or more" if heldout_files else \
        f"{HELDOUT_PERCENT}% of rows by id hash (no data folder has a second shard)"
    rows: dict[tuple[str, bool], list[tuple[int, int, int]]] = {(p, h): [] for p in POOLS for h in (False, True)}
    for fi, path in enumerate(files):
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        columns = [c for c in INDEX_COLUMNS if c in names]
        for rg in range(pf.num_row_groups):
            t = pf.read_row_group(rg, columns=columns)
            for ri, pools, row_id in _row_pools(t):
                held = path in heldout_files if heldout_files else _id_bucket(row_id) < HELDOUT_PERCENT
                for pool in pools:
                    rows[(pool, held)].append((fi, rg, ri))
    index = ShardIndex(files=files, heldout_rule=rule, heldout_files=sorted(heldout_files))
    for (pool, held), locs in rows.items():
        (index.heldout if held else index.train)[pool] = np.asarray(locs, dtype=np.int64).reshape(-1, 3)
    return index


def _row_pools(t: Any) -> list[tuple[int, list[str], str]]:
    n = t.num_rows
    col = t.column
    keep = col("keep").to_pylist() if "keep" in t.column_names else [True] * n
    width = col("width").to_pylist() if "width" in t.column_names else [None] * n
    text_len = pc.fill_null(pc.utf8_length(col("text")), 0).to_pylist() if "text" in t.column_names else [0] * n
    messages = col("messages").to_pylist() if "messages" in t.column_names else [None] * n
    kinds = col("kind").to_pylist() if "kind" in t.column_names else [None] * n
    # Only a document's text is read here (to count its markers): the index never reads image bytes.
    texts = col("text").to_pylist() if "text" in t.column_names and DOCUMENT_KIND in kinds else [None] * n
    # Plain Parquet without vlforge's `id` is held out by row position instead.
    ids = col("id").to_pylist() if "id" in t.column_names else [f"{t.num_rows}/{i}" for i in range(n)]
    out = []
    for i in range(n):
        if keep[i] is False:
            continue
        has_image = bool(width[i])
        pools = []
        if kinds[i] == DOCUMENT_KIND:
            if marker_count(texts[i]) > 0:
                pools.append("interleaved")
            elif text_len[i] > 0:
                pools.append("language")
        elif text_len[i] > 0:
            pools.append("image_text" if has_image else "language")
        if any(m["role"] == "assistant" and m["content"] for m in messages[i] or []):
            pools.append("sft_image" if has_image else "sft_text")
        if pools:
            out.append((i, pools, ids[i]))
    return out


def _id_bucket(row_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(row_id.encode(), digest_size=4).digest(), "big") % 100


class RowReader:
    """Reads single rows back by (file, row group, row), keeping the last few row groups decoded."""

    def __init__(self, files: list[str], cache_groups: int = 4) -> None:
        self.files = files
        self.cache_groups = cache_groups
        self._handles: dict[int, pq.ParquetFile] = {}
        self._groups: OrderedDict[tuple[int, int], Any] = OrderedDict()

    def row(self, file: int, group: int, row: int) -> dict[str, Any]:
        key = (file, group)
        table = self._groups.get(key)
        if table is None:
            pf = self._handles.get(file)
            if pf is None:
                pf = self._handles[file] = pq.ParquetFile(self.files[file])
            names = set(pf.schema_arrow.names)
            table = pf.read_row_group(group, columns=[c for c in ROW_COLUMNS if c in names])
            self._groups[key] = table
            while len(self._groups) > self.cache_groups:
                self._groups.popitem(last=False)
        else:
            self._groups.move_to_end(key)
        return table.slice(row, 1).to_pylist()[0]

    def __getstate__(self) -> dict[str, Any]:
        # Loader workers get the file list, not open handles or cached tables.
        return {"files": self.files, "cache_groups": self.cache_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["files"], state["cache_groups"])


def iter_texts(files: list[str], max_chars: int = 50_000_000):
    """Every text the shards hold (text, table, code, message turns), for training the tokenizer;
    stops after `max_chars` characters."""
    seen = 0
    for path in files:
        pf = pq.ParquetFile(path)
        columns = [c for c in ("text", "table", "code", "messages") if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=256, columns=columns):
            for row in batch.to_pylist():
                parts = [row.get(c) for c in ("text", "table", "code")]
                parts += [m["content"] for m in row.get("messages") or []]
                for s in parts:
                    if s:
                        yield s
                        seen += len(s)
                        if seen >= max_chars:
                            return
