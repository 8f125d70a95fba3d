"""Append-only JSON Lines journals that survive a kill at any moment: the commit journal of an output
folder and a web crawl's journal share this one implementation.

A record is durable once `append()` returns (written, flushed, fsynced). A kill mid-append leaves a
torn last line, which `read()` cuts off the file, as if it had never been written, so the next
append starts on a clean line. An append that fails (a full disk: ENOSPC) takes back what it wrote of
its record before the error goes up, so the journal holds whole records only, even if the process goes
on. `write_json()` replaces a whole file atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def read(path: Path, accept: Callable[[Any], bool] = lambda record: isinstance(record, dict)) -> list[dict[str, Any]]:
    """The journal's records up to the first torn or unacceptable line, which is cut off with the rest."""
    if not path.exists():
        return []
    data = path.read_bytes()
    records, good = [], 0
    for line in data.splitlines(keepends=True):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("torn line")
            record = json.loads(line)
            if not accept(record):
                raise ValueError("not a journal record")
        except ValueError:
            break
        records.append(record)
        good += len(line)
    if good < len(data):
        with path.open("r+b") as f:
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
    return records


def append(f: IO[bytes], record: dict[str, Any]) -> None:
    """Write one record durably to a journal opened with mode "ab": it is on disk when this returns.
    If the write fails (no space left), the journal is cut back to its last whole record and the error raised."""
    data = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    f.flush()
    fd = f.fileno()
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:  # unbuffered, so a failed write leaves nothing queued to be flushed later
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):  # else read() cuts the torn line off when the journal is next opened
            os.ftruncate(fd, start)
        raise


def read_json(path: Path) -> Any:
    """A JSON file's value, or None when it is missing or not whole."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, value: Any, indent: int | None = None) -> None:
    """Replace `path` atomically: a kill leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w") as f:
            json.dump(value, f, sort_keys=True, indent=indent)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: give back the space of the half-written copy
        raise
    os.replace(tmp, path)
