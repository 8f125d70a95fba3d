"""The rows an export reads: the kept shards, selected by kind and tag, streamed a row group at a time.

A build writes its shards in row groups of 256 rows; reading one row group (and only the rows of it
that are selected) at a time bounds an export's memory by a row group, whatever the build's size. A
`Cursor` names the next row to read, so a resumed export starts where its last finished shard ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

SLICE_ROWS = 32  # rows turned into Python objects at once (their images with them)


@dataclass(frozen=True)
class Selection:
    """Which samples to export: kinds (any of them; empty: every kind) and tags (a sample carrying any of
    them, where a tag also names its subtags: `recognition` selects `recognition.ocr_transcription`)."""

    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __call__(self, row: dict[str, Any]) -> bool:
        if self.kinds and row.get("kind") not in self.kinds:
            return False
        if self.tags:
            return any(t == want or t.startswith(want + ".") for t in (row.get("tags") or []) for want in self.tags)
        return True

    def describe(self) -> str:
        parts = [f"kind {', '.join(self.kinds)}" if self.kinds else "",
                 f"tag {', '.join(self.tags)}" if self.tags else ""]
        return " and ".join(p for p in parts if p) or "any kind"


@dataclass(frozen=True)
class Cursor:
    """The next row to read: shard file `file` (index in `shard_files`), row `row` of it."""

    file: int = 0
    row: int = 0


def shard_files(out: Path) -> list[Path]:
    return sorted((out / "shards").glob("*.parquet"))


def fingerprint(files: list[Path]) -> list[list[Any]]:
    """What the export reads, to tell a resumed export that the build changed under it: name, size, rows."""
    return [[f.name, f.stat().st_size, pq.read_metadata(f).num_rows] for f in files]


Keep = Callable[[dict[str, Any]], bool]


def _marks(pf: pq.ParquetFile, group: int, columns: list[str], keep: Keep) -> list[bool]:
    return [keep(r) for r in pf.read_row_group(group, columns=columns).to_pylist()]


def count(files: list[Path], columns: list[str], *keeps: Keep) -> list[int]:
    """How many rows each `keep` takes, in one pass that reads only `columns` (no images)."""
    n = [0] * len(keeps)
    for f in files:
        pf = pq.ParquetFile(f)
        for g in range(pf.num_row_groups):
            for r in pf.read_row_group(g, columns=columns).to_pylist():
                for i, keep in enumerate(keeps):
                    n[i] += keep(r)
    return n


def scan(files: list[Path], columns: list[str], keep: Keep, start: Cursor = Cursor()
         ) -> Iterator[tuple[dict[str, Any], Cursor]]:
    """Each row `keep` takes (decided on `columns`), whole, with the cursor of the row after it."""
    for fi in range(start.file, len(files)):
        pf = pq.ParquetFile(files[fi])
        first = start.row if fi == start.file else 0
        offset = 0
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if offset + n <= first:
                offset += n
                continue
            marks = _marks(pf, g, columns, keep)
            picked = [i for i in range(max(0, first - offset), n) if marks[i]]
            if picked:
                table = pf.read_row_group(g).take(picked)
                for s in range(0, len(picked), SLICE_ROWS):
                    for i, row in zip(picked[s:s + SLICE_ROWS], table.slice(s, SLICE_ROWS).to_pylist(), strict=True):
                        yield row, Cursor(fi, offset + i + 1)
                del table
            offset += n
