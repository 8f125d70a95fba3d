"""A full disk: recognise it in whatever error a write raised, and say in one line where space is missing
and about how much more the run needs.

A run writes in many places (workers write shard, reject, error and signature parts; the driver writes the
commit journal, the manifest, the global pass's state; Ray spills objects), and the error can reach the
driver wrapped in Ray's and Ray Data's own exceptions, or as pyarrow's OSError without an errno. Rather
than catching at every write, the runner hands any error that ends a run to `out_of_space()`, which finds a
no-space cause anywhere in the chain. Nothing that a failed write left needs undoing: parts are committed by
the journal only (a temp part the journal does not know is deleted by the next run), the journal cuts back a
failed append, and the manifest is replaced atomically, so the same command resumes once space is freed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

EXIT_NO_SPACE = 3  # the CLI's exit status for a run stopped by a full disk (resumable)
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How the same errors read where no errno survives: pyarrow's OSError ("[errno 28] No space left on device"),
# an exception re-raised from a Ray worker as text.
NO_SPACE_TEXTS = ("no space left on device", "disk quota exceeded", "[errno 28]", "[errno 122]")


class OutOfSpace(RuntimeError):
    """The run stopped because a write found no space left; `str()` is the one line to show the user."""

    def __init__(self, line: str, folder: Path):
        super().__init__(line)
        self.folder = folder


def chain(exc: BaseException):
    """`exc` and every exception it wraps: causes, contexts, and the `cause` Ray keeps of a task's error."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for inner in (e.__cause__, e.__context__, getattr(e, "cause", None)):
            if isinstance(inner, BaseException):
                todo.append(inner)


def no_space_cause(exc: BaseException) -> BaseException | None:
    """The exception in `exc`'s chain that says a disk is full (ENOSPC, EDQUOT, Ray's OutOfDiskError), or None."""
    for e in chain(exc):
        if isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS:
            return e
        if type(e).__name__ == "OutOfDiskError":  # ray.exceptions: the spill folder is over Ray's capacity threshold
            return e
    for e in chain(exc):
        if isinstance(e, OSError | RuntimeError) or "RayTaskError" in type(e).__name__:
            text = str(e).lower()
            if any(t in text for t in NO_SPACE_TEXTS):
                return e
    return None


def _committed(out: Path) -> tuple[int, int, int, int]:
    """(units done, units planned, bytes of the committed parts, bytes of the largest part), read without writing
    anything (the journal's torn last line, if any, is left for the next run to cut)."""
    from pipelines.shards import JOURNAL, MANIFEST, PARTS

    try:
        planned = int(json.loads((out / MANIFEST).read_text()).get("units_total") or 0)
    except (OSError, ValueError):
        planned = 0
    rows: dict[str, list[int]] = {}
    size = largest = 0
    try:
        lines = (out / JOURNAL).read_bytes().splitlines(keepends=True)
    except OSError:
        lines = []
    for line in lines:
        try:
            commit = json.loads(line)
        except ValueError:
            break
        for unit, (n, total) in commit.get("units", {}).items():
            rows.setdefault(unit, [0, total])[0] += n
        for kind, name in commit.get("files", {}).items():
            try:
                n_bytes = (out / PARTS[kind] / name).stat().st_size
            except (OSError, KeyError):
                continue
            size += n_bytes
            largest = max(largest, n_bytes if kind == "shards" else 0)
    done = sum(1 for n, total in rows.values() if n >= total)
    return done, planned, size, largest


def bytes_needed(out: Path) -> int | None:
    """About how many more bytes the run needs in `out`: what the finished units took per unit, times the units
    left, plus the largest shard (the dedup pass rewrites a shard beside itself). None before any commit."""
    done, planned, size, largest = _committed(out)
    if not done:
        return None
    return int(size / done * max(planned - done, 0)) + largest


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 10e6 else f"{n / 1e6:.0f} MB"


def out_of_space(exc: BaseException, out: Path, spill_dir: str = "") -> OutOfSpace | None:
    """The `OutOfSpace` to raise for `exc` if a full disk caused it, naming the folder that is full: `out`, Ray's
    spill folder, or the folder of the file that could not be written."""
    cause = no_space_cause(exc)
    if cause is None:
        return None
    out = Path(out).resolve()
    filename = getattr(cause, "filename", None)
    if type(cause).__name__ == "OutOfDiskError":
        # Without --spill-dir Ray spills under its temp folder, the one pipelines/ray_env.py gives it.
        ray_tmp = os.environ.get("VLFORGE_RAY_TMP") or os.path.join(tempfile.gettempdir(), "vlforge-ray")
        folder = Path(spill_dir or ray_tmp)
        return OutOfSpace(f"error: no space left for Ray's object spilling in {folder} (Ray stops spilling when its "
                          f"disk is 95% full); free space there, or set --spill-dir to a larger disk, and rerun the "
                          f"same command to resume", folder)
    folder = out
    if filename and not Path(filename).resolve().is_relative_to(out):
        folder = Path(filename).resolve().parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    needed = bytes_needed(out) if folder == out else None
    amount = (f"needs about {_mb(max(needed - free, 1 << 20))} more" if needed is not None
              else f"needs more than the {_mb(free)} free")
    return OutOfSpace(f"error: no space left on device in {folder} ({amount}); free space and rerun the same "
                      f"command to resume", folder)
