"""Units whose worker keeps dying (the kernel's OOM killer, a crash inside a C library): what killed them, and
the error rows that close them, so a run under too little memory ends with a reason instead of looping.

Ray Data retries a task whose worker died forever by default; the runner caps that at a few tries and tells
Ray Data to skip a block that still fails (`max_errored_blocks`), then runs that block's units once more one by
one. Ray Data logs each skipped block with its exception; `FailedBlocks` keeps those exceptions, so the
driver can tell a full disk (which stops the run) from a dead worker, and say which it was.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines import disk, memory_budget
from pipelines.memory_budget import Budget
from pipelines.schema import UNIT_COL, UNIT_ROWS_COL, to_table
from pipelines.shards import write_part
from pipelines.stage import Source, Unit, failure
from pipelines.stats import attach

RAY_DATA_LOGGER = "ray.data._internal.execution.streaming_executor_state"  # logs each block it gives up on


class FailedBlocks(logging.Handler):
    """Keeps the exceptions of the blocks Ray Data gives up on (it logs each with its exception, at ERROR)."""

    def __init__(self, into: list[BaseException]):
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.into.append(record.exc_info[1])


@contextmanager
def skipped_blocks(into: list[BaseException]) -> Iterator[None]:
    """While inside, Ray Data skips a block whose task failed for good (instead of failing the dataset), and its
    exception is added to `into`. A dataset takes a copy of the context when it is made: make it inside."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    before, ctx.max_errored_blocks = ctx.max_errored_blocks, -1
    handler, logger = FailedBlocks(into), logging.getLogger(RAY_DATA_LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        ctx.max_errored_blocks = before


def reason(failed: list[BaseException], memory: Budget | None, kills_before: int, tries: int) -> tuple[str, str]:
    """(error type, message) for units whose task kept failing: out of memory when Ray's memory monitor or the
    kernel's OOM killer (the cgroup's count went up) says so, a dead worker, or else the exception itself."""
    oom = memory_budget.oom_kills() > kills_before or any(
        type(c).__name__ == "OutOfMemoryError" for e in failed for c in disk.chain(e))
    if oom:
        limit = memory or memory_budget.for_run("", None, 1, None, None)
        under = f"memory limit {memory_budget.size_text(limit.limit)}" if limit else "no memory limit"
        return "OutOfMemory", f"worker killed: out of memory ({under}; {tries} tries)"
    root = _innermost(failed[-1]) if failed else None
    lines = [ln.strip() for ln in _ANSI.sub("", str(root or "")).splitlines() if ln.strip()]
    first = lines[0] if lines else "no reason given"
    if root is None or type(root).__name__ in _DEATHS:
        return "WorkerDied", f"worker died ({tries} tries): {first}"[:500]
    return type(root).__name__, first[:500]


_DEATHS = ("WorkerCrashedError", "ActorDiedError", "ActorUnavailableError", "NodeDiedError", "ObjectLostError")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _innermost(exc: BaseException) -> BaseException:
    """The exception at the bottom of Ray's and Ray Data's wrappers (`cause`, `__cause__`)."""
    seen = {id(exc)}
    while True:
        inner = getattr(exc, "cause", None) or exc.__cause__
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner


def error_record(source: Source, units: list[Unit], rows: dict[str, list[int]], why: tuple[str, str],
                 out: Path) -> dict[str, Any]:
    """The commit record of one error row per lost unit (written like a worker's part), which completes each
    unit: rows of it already committed stay, `rows` (unit -> [committed, total]) says how many."""
    produced = []
    for unit in units:
        row = failure(source=source.sample_source, uri=unit.uri, locator=unit.locator, stage="runner",
                      error_type=why[0], message=why[1])
        row[UNIT_COL], row[UNIT_ROWS_COL], row["keep"] = unit.id, 1, True
        produced.append(row)
    counts = {"rows_in": len(units), "rows_out": 0, "dropped": 0, "errors": len(units), "seconds": 0.0, "setups": 0}
    record = write_part(attach(to_table(produced), {"source": counts}), str(out), write_rejects=False)
    for unit in units:
        n, total = rows.get(unit.id, [0, 1])
        record["units"][unit.id] = [total - n, total]
    return record
