"""The export driver: streams the selected rows of a build into a format's shards, resumably.

`DIR/.export.json` records the settings, what the export reads (the build's shard files) and every
finished output shard with the cursor of the row after it. A killed export, rerun with the same
command, keeps the finished shards and redoes the one it was writing; run with other settings, or
after the build changed, it stops with a message (`--fresh` starts over).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import journal
from pipelines.export.common import Format, clear
from pipelines.export.jsonl import Jsonl
from pipelines.export.llava import Llava
from pipelines.export.obelics import Obelics
from pipelines.export.rows import Cursor, Selection, count, fingerprint, scan, shard_files
from pipelines.export.webdataset import WebDataset

FORMATS: dict[str, type[Format]] = {f.name: f for f in (Llava, WebDataset, Obelics, Jsonl)}
STATE = ".export.json"
STATE_VERSION = 1


class ExportError(ValueError):
    """A request the export cannot do; the message is one line for the user."""


@dataclass
class ExportResult:
    out: Path
    rows: int  # rows this export holds in all
    images: int
    bytes: int  # bytes written in all (files and images)
    shards: int
    this_run_rows: int  # rows written by this call (less than `rows` when it resumed)
    this_run_bytes: int
    seconds: float
    cpu_seconds: float
    left_out: int  # selected rows the format cannot use (see Format.requirement)
    entry: list[str] = field(default_factory=list)  # what a trainer is pointed at

    @property
    def rows_per_second(self) -> float:
        return self.this_run_rows / self.seconds if self.seconds else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.this_run_bytes / 1e6 / self.seconds if self.seconds else 0.0


Progress = Callable[[int, int], None]  # (rows done, bytes written) since the last call


def _kinds_there(files: list[Path]) -> str:
    from collections import Counter

    import pyarrow.parquet as pq

    kinds: Counter[str] = Counter()
    for f in files:
        kinds.update(pq.read_table(f, columns=["kind"]).column("kind").to_pylist())
    return ", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none"


def _settings(fmt: str, selection: Selection, shard_size: int, files: list[Path]) -> dict[str, Any]:
    return {"version": STATE_VERSION, "format": fmt, "kinds": list(selection.kinds), "tags": list(selection.tags),
            "shard_size": shard_size, "reads": fingerprint(files)}


def _start(dest: Path, settings: dict[str, Any], fresh: bool) -> dict[str, Any]:
    """The export's state: resumed from `dest` when it holds this same export, else a new one."""
    path = dest / STATE
    state = journal.read_json(path) if path.exists() else None
    if state is not None and (fresh or state.get("settings") != settings):
        if not fresh:
            old = state.get("settings", {})
            same = {k: v for k, v in old.items() if k != "reads"} == {k: v for k, v in settings.items() if k != "reads"}
            what = "of a build that has changed since" if same else "made with other settings"
            raise ExportError(f"{dest} holds an export {what} ({old.get('format')}, kinds {old.get('kinds') or 'any'}, "
                              f"tags {old.get('tags') or 'any'}, shard size {old.get('shard_size')}): rerun with "
                              "--fresh to start over, or choose another --out")
        for child in dest.iterdir():
            clear(child)
        state = None
    elif state is None and dest.exists() and any(dest.iterdir()):
        raise ExportError(f"{dest} is not empty and holds no export: choose an empty or new --out")
    dest.mkdir(parents=True, exist_ok=True)
    if state is None:
        state = {"settings": settings, "shards": [], "complete": False}
        journal.write_json(path, state, indent=1)
    return state


def export(out: str | Path, fmt: str, dest: str | Path, kinds: tuple[str, ...] = (), tags: tuple[str, ...] = (),
           shard_size: int = 1000, fresh: bool = False, progress: Callable[[int], Progress] | None = None
           ) -> ExportResult:
    """Export the kept samples of the build in `out` as `fmt` into `dest`; `progress(total)` gives a callback
    told of rows and bytes as they are written."""
    out, dest = Path(out), Path(dest)
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise ExportError(f"--shard-size must be at least 1, got {shard_size}")
    files = shard_files(out)
    if not files:
        raise ExportError(f"{out} holds no shards (shards/*.parquet): give a build's output folder")
    if dest.resolve() == out.resolve() or out.resolve() in dest.resolve().parents:
        raise ExportError(f"--out {dest} is inside the build's folder {out}: choose a folder outside it")
    writer = FORMATS[fmt](dest)
    selection = Selection(tuple(kinds) or writer.default_kinds, tuple(tags))
    light = sorted(set(writer.light) | {"kind", "tags"})
    def take(r: dict[str, Any]) -> bool:
        return selection(r) and writer.accepts(r)

    selected, wanted = count(files, light, selection, take)
    if not selected:
        raise ExportError(f"no samples of {selection.describe()} in {out} (kinds there: {_kinds_there(files)})")
    if not wanted:
        raise ExportError(f"none of the {selected} samples of {selection.describe()} in {out} has "
                          f"{writer.requirement}, which {fmt} needs")
    state = _start(dest, _settings(fmt, selection, shard_size, files), fresh)
    started, cpu = time.perf_counter(), time.process_time()
    done_rows = sum(s["rows"] for s in state["shards"])
    report = progress(wanted) if progress else None
    if report and done_rows:
        report(done_rows, 0)
    run_rows = run_bytes = 0
    if not state["complete"]:
        k = len(state["shards"])
        cursor = Cursor(*state["shards"][-1]["next"]) if state["shards"] else Cursor()
        rows, last = 0, cursor
        for row, last in scan(files, light, take, cursor):
            if rows == 0:
                writer.begin(k)
            writer.add(row)
            rows += 1
            if report:
                report(1, 0)
            if rows == shard_size:
                run_bytes += _commit(dest, state, writer, rows, last, report)
                run_rows, rows, k = run_rows + rows, 0, k + 1
        if rows:
            run_bytes += _commit(dest, state, writer, rows, last, report)
            run_rows += rows
        state["entry"] = writer.finish(state["shards"])
        state["complete"] = True
        journal.write_json(dest / STATE, state, indent=1)
        writer.cleanup()
    shards = state["shards"]
    return ExportResult(dest, sum(s["rows"] for s in shards), sum(s["images"] for s in shards),
                        sum(s["bytes"] for s in shards), len(shards), run_rows, run_bytes,
                        time.perf_counter() - started, time.process_time() - cpu, selected - wanted,
                        state.get("entry", []))


def _commit(dest: Path, state: dict[str, Any], writer: Format, rows: int, after: Cursor,
            report: Progress | None) -> int:
    record = writer.end()
    state["shards"].append({**record, "rows": rows, "next": [after.file, after.row]})
    journal.write_json(dest / STATE, state, indent=1)
    if report:
        report(0, record["bytes"])
    return record["bytes"]
