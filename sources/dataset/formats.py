"""Reading datasets by row range: Parquet files, JSON Lines, JSON arrays and Hugging Face `save_to_disk` folders.

Planning must be cheap on the driver and reading a range must not read the whole dataset, so each
format has two halves: `plan_ranges` (Parquet footers, one pass over JSON Lines recording the byte
offset of each range, the length of a saved dataset) and `read_range`, which a worker calls for
one range and which yields `(locator, row dict or the exception that row raised)`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.stage import InputError

SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
HF_MARKERS = ("dataset_dict.json", "state.json")  # what `save_to_disk` writes at the top of its folder


@dataclass(frozen=True)
class DataFile:
    """One readable piece of an input: a file, or one split of a saved Hugging Face dataset."""

    path: Path
    format: str  # parquet | jsonl | json | hf
    split: str = ""
    rel: str = ""  # the path under the input root it was found under (set by the source)

    @property
    def uri(self) -> str:
        """What ids and the `uri` column name it by: its path under its input root, never a machine path."""
        return self.rel or self.path.name


def find_data(raw: str, fmt: str = "auto", split: str = "") -> list[DataFile]:
    """The data of one input, in a stable order: a file as given, a folder searched recursively (a saved
    Hugging Face dataset is one input, never searched inside; .json files count only when named, or
    with `format = "json"`, since folders often hold JSON that is not data)."""
    p = Path(raw).resolve()
    if not p.exists():
        raise FileNotFoundError(f"input {raw} does not exist")
    if is_saved_dataset(p) and fmt in ("auto", "hf"):
        return _hf_splits(p, split)
    if p.is_dir():
        return _walk(p, fmt)
    return [DataFile(p, fmt if fmt != "auto" else _format_of(p))]


def is_saved_dataset(p: Path) -> bool:
    """A folder written by Hugging Face `save_to_disk` (one input, never searched inside)."""
    return p.is_dir() and any((p / m).is_file() for m in HF_MARKERS)


def _walk(folder: Path, fmt: str) -> list[DataFile]:
    out: list[DataFile] = []
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            out.extend(_hf_splits(child, "") if is_saved_dataset(child) else _walk(child, fmt))
        elif fmt == SUFFIXES.get(child.suffix.lower()) or (fmt == "auto" and child.suffix.lower() in SUFFIXES
                                                            and child.suffix.lower() != ".json"):
            out.append(DataFile(child, fmt if fmt != "auto" else _format_of(child)))
    return out


def _format_of(p: Path) -> str:
    fmt = SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        return "unknown"
    if fmt == "json":  # a .json file holding one object per line is JSON Lines
        with p.open("rb") as f:
            head = f.read(4096).lstrip()
        return "json" if head.startswith(b"[") else "jsonl"
    return fmt


def _hf_splits(folder: Path, split: str) -> list[DataFile]:
    marker = folder / "dataset_dict.json"
    if not marker.is_file():
        return [DataFile(folder, "hf")]
    splits = json.loads(marker.read_text()).get("splits", [])
    if split:
        return [DataFile(folder, "hf", split)]  # an unknown split is an error unit, named when planned
    return [DataFile(folder, "hf", s) for s in splits]


# -- the driver's half: what a file holds -------------------------------------------------------------
def columns_of(data: DataFile) -> list[str] | None:
    """The column names, for formats with a schema (None for JSON, whose rows each have their own keys)."""
    if data.format == "parquet":
        return list(pq.ParquetFile(data.path).schema_arrow.names)
    if data.format == "hf":
        return list(_hf_dataset(str(data.path), data.split).column_names)
    return None


def plan_ranges(data: DataFile, per: int, budget: int) -> list[dict[str, Any]]:
    """Ranges of at most `per` rows, `budget` rows in all: {start, stop} (rows), or for JSON Lines
    {offset, first_line, last_line, rows} so a worker seeks straight to its lines."""
    if data.format == "jsonl":
        return _jsonl_ranges(data.path, per, budget)
    if data.format == "parquet":
        total = pq.ParquetFile(data.path).metadata.num_rows
    elif data.format == "json":
        total = len(_json_rows(str(data.path)))
    elif data.format == "hf":
        total = len(_hf_dataset(str(data.path), data.split))
    else:
        raise InputError("UnknownFormat", f"{data.path.name}: not a dataset format this source reads "
                                          f"(.parquet, .jsonl, .json, or a save_to_disk folder)")
    total = min(total, budget)
    return [{"start": a, "stop": min(a + per, total)} for a in range(0, total, per)]


def _jsonl_ranges(path: Path, per: int, budget: int) -> list[dict[str, Any]]:
    ranges: list[dict[str, Any]] = []
    rows = offset = line_no = 0
    with path.open("rb") as f:
        for line in f:
            line_no += 1
            if line.strip() and rows < budget:
                if rows % per == 0:
                    ranges.append({"offset": offset, "first_line": line_no, "rows": 0})
                ranges[-1]["rows"] += 1
                ranges[-1]["last_line"] = line_no
                rows += 1
            elif rows >= budget:
                break
            offset += len(line)
    return ranges


# -- the worker's half: the rows of one range ---------------------------------------------------------
Row = tuple[str, "dict[str, Any] | Exception"]


def read_range(data: DataFile, rng: dict[str, Any], columns: list[str] | None) -> Iterator[Row]:
    """The rows of one planned range, each with its locator (`row=N`, `line=N` for JSON Lines, the split
    first for a saved DatasetDict); `columns` limits what is read, where the format allows."""
    if data.format == "jsonl":
        yield from _jsonl_rows(data.path, rng)
    elif data.format == "json":
        rows = _json_rows(str(data.path))
        for i in range(rng["start"], rng["stop"]):
            yield f"row={i}", rows[i] if isinstance(rows[i], dict) else _not_an_object(rows[i])
    elif data.format == "parquet":
        yield from _parquet_rows(data.path, rng["start"], rng["stop"], columns)
    elif data.format == "hf":
        ds = _hf_dataset(str(data.path), data.split)
        if columns is not None:
            ds = ds.select_columns(columns)
        table = ds.with_format("arrow")[rng["start"]:rng["stop"]]
        prefix = f"{data.split}/" if data.split else ""
        for i, row in enumerate(table.to_pylist(), start=rng["start"]):
            yield f"{prefix}row={i}", row


def _jsonl_rows(path: Path, rng: dict[str, Any]) -> Iterator[Row]:
    with path.open("rb") as f:
        f.seek(rng["offset"])
        line_no, done = rng["first_line"], 0
        while done < rng["rows"]:
            line = f.readline()
            if not line:
                break
            if line.strip():
                done += 1
                try:
                    value = json.loads(line)
                except ValueError as e:
                    value = InputError("InvalidJSON", f"line {line_no} of {path.name} is not valid JSON: {e}")
                yield f"line={line_no}", value if isinstance(value, dict | Exception) else _not_an_object(value)
            line_no += 1


def _not_an_object(value: Any) -> InputError:
    return InputError("NotAnObject", f"a row must be a JSON object of columns, got {type(value).__name__}")


def _parquet_rows(path: Path, start: int, stop: int, columns: list[str] | None) -> Iterator[Row]:
    """Only the row groups that hold the range are read, in batches, so a unit costs its own rows
    (plus at most the rest of the row groups at its ends)."""
    pf = pq.ParquetFile(path)
    pos = 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if pos + n <= start:
            pos += n
            continue
        if pos >= stop:
            return
        for batch in pf.iter_batches(batch_size=256, row_groups=[g], columns=columns):
            lo, hi = max(start - pos, 0), min(stop - pos, batch.num_rows)
            if hi > lo:
                for i, row in enumerate(batch.slice(lo, hi - lo).to_pylist(), start=pos + lo):
                    yield f"row={i}", row
            pos += batch.num_rows
            if pos >= stop:
                return


# Workers run many units of the same input: parse a JSON array or open a saved dataset once per process.
@functools.lru_cache(maxsize=2)
def _json_rows(path: str) -> list[Any]:
    try:
        rows = json.loads(Path(path).read_bytes())
    except ValueError as e:
        raise InputError("InvalidJSON", f"{Path(path).name} is not valid JSON: {e}") from None
    if not isinstance(rows, list):
        raise InputError("NotAList", f"{Path(path).name} must hold a JSON array of row objects "
                                     f"(or one object per line, as JSON Lines), got a {type(rows).__name__}")
    return rows


@functools.lru_cache(maxsize=4)
def _hf_dataset(path: str, split: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise InputError("MissingPackage", "reading a Hugging Face save_to_disk folder needs the `datasets` "
                                           "package: pip install 'vlforge[hf]'") from None
    ds = datasets.load_from_disk(path)
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise InputError("UnknownSplit", f"{Path(path).name} has no split '{split}' (splits: {', '.join(ds)})")
        ds = ds[split]
    return ds
