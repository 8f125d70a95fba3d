"""Per-stage figures, DataTrove-style: rows in, rows out, dropped, errors, CPU seconds and setups.

Workers count what each stage did to each batch and the counts travel with the data: they ride on
one row of the batch in the `_stats` bookkeeping column (null on every other row), so they survive
Ray Data's re-batching between operators, reach the writer with the rows they describe, and are
committed in the same journal record as those rows. A resumed run therefore never counts a part
twice, and the driver needs no side channel (no actor, no RPC per batch).

Per stage: `rows_in` kept samples that entered it (error rows and samples an earlier filter dropped
pass through untouched and are not counted), `dropped` of those it marked keep=false, `errors` of
those it turned into error rows, `rows_out` the rest; `seconds` is worker CPU time inside the stage
(all threads of the process), `setups` how many times a worker process set it up. For the source,
`rows_in` is the units it expanded and `rows_out` the samples it made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema import ERROR_COL, STATS_COL

FIELDS = ("rows_in", "rows_out", "dropped", "errors", "seconds", "setups")


def _live(batch: pa.Table) -> pa.Array:
    """Rows a stage works on: not an error row, not dropped."""
    ok = pc.is_null(batch.column(ERROR_COL))
    kept = pc.fill_null(batch.column("keep"), True)
    return pc.and_(ok, kept)


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def measure(name: str, batch: pa.Table, run: Callable[[pa.Table], pa.Table], setups: int = 0) -> pa.Table:
    """Run `run` on `batch` and add this stage's counts to the batch's stats."""
    live_in = _count(_live(batch)) if batch.num_rows else 0
    errors_in = _count(pc.is_valid(batch.column(ERROR_COL))) if batch.num_rows else 0
    started = time.process_time()
    out = run(batch)
    seconds = time.process_time() - started
    errors = (_count(pc.is_valid(out.column(ERROR_COL))) if out.num_rows else 0) - errors_in
    live_out = _count(_live(out)) if out.num_rows else 0
    counts = {"rows_in": live_in, "rows_out": live_out, "dropped": max(0, live_in - live_out - errors),
              "errors": errors, "seconds": seconds, "setups": setups}
    return attach(out, {name: counts})


def attach(batch: pa.Table, stages: dict[str, dict[str, float]]) -> pa.Table:
    """Merge `stages` counts into the batch's stats row (its first row holds them)."""
    if batch.num_rows == 0:
        return batch
    column = batch.column(STATS_COL)
    first = column[0].as_py()
    merged = merge([json.loads(first)] if first else [], stages)
    values = [json.dumps(merged, sort_keys=True)] + column.slice(1).to_pylist()
    return batch.set_column(batch.schema.get_field_index(STATS_COL), batch.schema.field(STATS_COL),
                            pa.array(values, pa.string()))


def merge(*parts: Iterable[dict[str, dict[str, float]]] | dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Sum per-stage counts; arguments are count mappings or iterables of them."""
    total: dict[str, dict[str, float]] = {}
    for part in parts:
        for stages in ([part] if isinstance(part, dict) else part):
            for name, counts in stages.items():
                acc = total.setdefault(name, dict.fromkeys(FIELDS, 0))
                for k, v in counts.items():
                    acc[k] = acc.get(k, 0) + v
    return total


def collect(batch: pa.Table) -> dict[str, dict[str, float]]:
    """The sum of every stats row in a batch (the writer's view of everything upstream of it)."""
    if STATS_COL not in batch.column_names or batch.num_rows == 0:
        return {}
    return merge(json.loads(v) for v in batch.column(STATS_COL).to_pylist() if v)


def rounded(stages: dict[str, dict[str, float]], order: Iterable[str]) -> dict[str, dict[str, Any]]:
    """For stats.json: stages in pipeline order, counts as integers, seconds to the millisecond."""
    names = [n for n in order if n in stages] + sorted(set(stages) - set(order))
    # A stage's own counts (the document filter's `images_removed:<rule>`) follow the standard fields.
    return {n: {k: (round(stages[n].get(k, 0), 3) if k == "seconds" else int(stages[n].get(k, 0)))
                for k in (*FIELDS, *sorted(set(stages[n]) - set(FIELDS)))}
            for n in names}


def tripped(stages: dict[str, dict[str, Any]], max_share: float, exempt: Iterable[str] = ()) -> list[str]:
    """Stages that failed on more than `max_share` of their rows: the circuit breaker's verdict."""
    skip = set(exempt)
    return [f"{name} failed on {c['errors']} of its {c['rows_in']} rows" for name, c in stages.items()
            if name not in skip and c["rows_in"] and c["errors"] / c["rows_in"] > max_share]
