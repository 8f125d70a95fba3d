"""The runner: maps a pipeline (a source and a list of stages) onto Ray Data and commits its output.

This is the only module that knows Ray Data. A source's units become a dataset, each unit is
expanded on a worker, each stage becomes one ``map_batches`` (a task pool, or an actor pool for
stages that hold a model), and a final writer op writes Parquet parts that the driver commits as
they arrive, so memory stays bounded and a killed run resumes where it stopped.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines import disk, images, lost_units, memory_budget, ray_env
from pipelines.memory_budget import Budget
from pipelines.schema import (
    ERROR_COL,
    UNIT_COL,
    UNIT_ROWS_COL,
    conform,
    meta_json,
    pin_quality_scores,
    quality_scores,
    to_table,
)
from pipelines.shards import PLAN_DIR, ShardStore, remove_rows, write_part
from pipelines.stage import GlobalStage, Resources, Source, Stage, StageUnavailable, Unit, failure, run_guarded
from pipelines.stats import attach, measure, tripped

PIPELINE_VERSION = "vlforge/0.1.0"
ITEMS_PER_TASK = 8  # measured: 1 -> 39, 8 -> 45, 16 -> 47 pages/s on 2 CPUs with 2-page PDFs
MODEL_BLOCK_BYTES = 256 * 1024
TASK_RETRIES = 2  # a task whose worker dies is tried 3 times (Ray Data's default: forever, a hang on an OOM loop)
# Ray Data 2.60 (pinned) takes those retries only as `ray_remote_args`, which it warns will go in 2.64: noise in
# every run until then (silenced in `_stream`, after Ray's import puts its own filter for the warning first).
RETRIES_WARNING = "`ray_remote_args` is deprecated"


@dataclass
class Pipeline:
    """What a run does, readable as a list: a source, then its stages in order."""

    source: Source
    stages: list[Stage] = field(default_factory=list)

    def versions(self) -> dict[str, str]:
        return {"pipeline": PIPELINE_VERSION, "source": self.source.qualified_name,
                **{s.name: s.qualified_name for s in self.stages}}


@dataclass
class RunOptions:
    """Where and how to run; `from_config` is the one way a configured run gets them."""

    out: Path
    inputs: Sequence[str] = ()
    limit: int | None = None
    fresh: bool = False
    ray_address: str | None = None
    num_cpus: int | None = None
    shard_rows: int = 1000
    write_rejects: bool = True
    fingerprint: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    object_store_bytes: int | None = None  # local Ray only; None = ray_env's default
    spill_dir: str = ""  # local Ray only; "" = Ray's temp folder
    max_error_share: float = 0.5  # the circuit breaker: a stage failing on more of its rows fails the run
    memory: Budget | None = None  # what a memory limit allows (local Ray only): set num_cpus, store, shard_rows

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> RunOptions:
        """The options of a configured run (`cfg` a `pipelines.config.Config`); keywords override."""
        from pipelines.config import to_dict

        r = cfg.run
        store = (cfg.ray.object_store_mb << 20) or None
        budget = memory_budget.for_run(cfg.ray.memory_limit, r.num_cpus, r.shard_rows, store, r.ray_address)
        opts = cls(out=Path(r.out or f"out/{r.source}"), inputs=r.inputs, limit=r.limit, fresh=r.fresh,
                   ray_address=r.ray_address, num_cpus=budget.num_cpus if budget else r.num_cpus,
                   shard_rows=budget.shard_rows if budget else r.shard_rows,  # not the fingerprint's: same samples
                   write_rejects=r.write_rejects, fingerprint=cfg.fingerprint(), config=to_dict(cfg),
                   object_store_bytes=budget.object_store_bytes if budget else store, spill_dir=cfg.ray.spill_dir,
                   max_error_share=r.max_error_share, memory=budget)
        for key, value in overrides.items():
            if not hasattr(opts, key):
                raise TypeError(f"RunOptions has no field {key!r}")
            setattr(opts, key, Path(value) if key == "out" else value)
        return opts


class StageFailed(RuntimeError):
    """A stage failed on more than `run.max_error_share` of its rows: a broken stage, not bad inputs."""


@dataclass
class RunResult:
    out: Path
    stats: dict[str, Any]
    units_total: int
    units_run: int
    items: int
    seconds: float  # the whole run, Ray's start-up included
    work_seconds: float  # from a ready Ray to the last commit

    @property
    def items_per_second(self) -> float:
        return self.items / self.work_seconds if self.work_seconds > 0 else 0.0


def run(pipeline: Pipeline, opts: RunOptions) -> RunResult:
    """Run a pipeline into `opts.out`, resuming whatever an earlier run of the same settings left. A write that
    finds the disk full, wherever it happened, ends the run as `disk.OutOfSpace` (its one line says where)."""
    try:
        return _run(pipeline, opts)
    except Exception as e:
        full = disk.out_of_space(e, opts.out, opts.spill_dir)
        if full is None:
            raise
        raise full from e


def _run(pipeline: Pipeline, opts: RunOptions) -> RunResult:
    started = time.perf_counter()
    global_stage = next((s for s in pipeline.stages if isinstance(s, GlobalStage)), None)
    owned = (global_stage.decisions_file,) if global_stage is not None else ()
    store = ShardStore.open(opts.out, opts.fingerprint, opts.config, fresh=opts.fresh, owned=owned)
    pipeline.source.state_dir = opts.out / PLAN_DIR
    units = pipeline.source.plan(opts.inputs, opts.limit)
    done = store.completed_units()
    todo = [u for u in units if u.id not in done]
    skip_ids = store.committed_ids_of_partial_units()
    store.save(versions=pipeline.versions(), units_total=len(units), complete=False,
               stages=[f"source {pipeline.source.qualified_name}", *(s.qualified_name for s in pipeline.stages)],
               input_roots=list(pipeline.source.input_roots))
    cluster: dict[str, Any] = {}
    work_started = time.perf_counter()
    if todo:
        pipeline.source.preflight()
        for stage in pipeline.stages:
            stage.preflight()
        cluster = _connect(opts)
        _check_gpus(pipeline)
        work_started = time.perf_counter()  # items/s leaves out Ray's start-up, a fixed cost of a few seconds
        kills, failed = memory_budget.oom_kills(), []
        for record in _execute(pipeline, todo, opts, skip_ids, failed):
            store.commit(record)
        if failed:
            _retry_alone(pipeline, todo, store, opts, failed, kills)
    if global_stage is not None and not store.global_state().get("complete"):
        if not cluster:
            cluster = _connect(opts)
        _global_pass(global_stage, store, opts)
    items = sum(u.size for u in todo)
    seconds = time.perf_counter() - started
    work_seconds = time.perf_counter() - work_started
    summary = {
        "inputs": len({u.uri for u in units}),
        "items": sum(u.size for u in units),
        "item_name": pipeline.source.item_name,
        "units": len(units),
        "this_run": {"units": len(todo), "items": items, "seconds": round(seconds, 3),
                     "work_seconds": round(work_seconds, 3),
                     "items_per_second": round(items / work_seconds, 3) if work_seconds else 0.0,
                     "cluster": cluster},
    }
    stats = store.finalize(summary, order=["source", *(s.name for s in pipeline.stages)])
    result = RunResult(opts.out, stats, len(units), len(todo), items, seconds, work_seconds)
    broken = tripped(stats.get("stages", {}), opts.max_error_share, exempt=("source",))
    if broken:
        raise StageFailed(f"{'; '.join(broken)} (more than run.max_error_share = {opts.max_error_share}); see "
                          f"{opts.out / 'errors.parquet'}")
    source = stats.get("stages", {}).get("source", {})
    if source.get("errors") and not source.get("rows_out"):
        # Bad inputs are expected and never stop a run, but when every row the source read is an error
        # the run made nothing: that is a wrong setting (a column map), not a bad input, and exits non-zero.
        raise StageFailed(f"source failed on every one of its {source['errors']} rows and produced no sample "
                          f"({_first_error(opts.out)}); see {opts.out / 'errors.parquet'}")
    return result


def _connect(opts: RunOptions) -> dict[str, Any]:
    """Ray for this run; under a memory limit no idle worker is kept beyond one per CPU (each holds its models)."""
    return ray_env.connect(opts.ray_address, opts.num_cpus, opts.object_store_bytes, opts.spill_dir,
                           keep_workers=opts.memory is None)


def _execute(pipeline: Pipeline, units: list[Unit], opts: RunOptions, skip_ids: frozenset[str],
             failed: list[BaseException], alone: bool = False):
    """Yield each part record as the writer finishes it. A block whose task still fails after `TASK_RETRIES`
    (its worker killed: the OOM killer, a crash in a C library) is left out and its exception added to
    `failed`, for `_retry_alone`; a full disk stops the run. `alone` puts every unit in a block of its own."""
    with lost_units.skipped_blocks(failed):
        for record in _stream(pipeline, units, opts, skip_ids, alone):
            if "failed" in record:  # a write failed (a full disk): the run stops, the journal has every commit
                raise (OSError if record["os_error"] else RuntimeError)(record["failed"])
            yield record
    no_space = next((e for e in failed if disk.no_space_cause(e)), None)
    if no_space is not None:  # Ray could not spill, or a stage's write found the disk full: that stops the run
        raise no_space


def _stream(pipeline: Pipeline, units: list[Unit], opts: RunOptions, skip_ids: frozenset[str], alone: bool):
    """Build the Ray Data plan and yield each record the writer returns."""
    import ray.data

    warnings.filterwarnings("ignore", message=RETRIES_WARNING)

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = True
    ctx.print_on_execution_start = False
    # Ray Data reserves a share of the CPUs for every operator; on a small machine that starves the
    # expand op (measured: 26 vs 45 pages/s on 2 CPUs).
    ctx.op_resource_reservation_enabled = False
    # Small units (a 2-page PDF) are grouped into blocks of about ITEMS_PER_TASK items, so each task does
    # enough work to amortise Ray's per-task cost; big units stay one per block. A pipeline with a
    # model stage (OCR: seconds per page) keeps one unit per block, so work spreads over every actor.
    items = sum(max(u.size, 1) for u in units)
    heavy = any(s.resources.actor for s in pipeline.stages)
    blocks = max(1, min(len(units), len(units) if heavy or alone else math.ceil(items / ITEMS_PER_TASK), 10_000))
    # Before a model stage, blocks are cut to about one page each, so the actors share out the work
    # page by page and the run's tail is one page, not one unit of 8 (a fresh context holds the default).
    ctx.target_max_block_size = MODEL_BLOCK_BYTES if heavy else ray.data.DataContext().target_max_block_size
    # Retries bounded (Ray Data's default retries a task whose worker dies forever), except in a run with a model
    # actor pool: there any retry setting (`max_retries` on its tasks or `max_task_retries` on its actors) made a
    # 2-CPU run with 2 OCR actors (`ocr.policy = all`) never schedule its source task (Ray Data 2.60). Such a run
    # keeps Ray Data's unbounded retries of a killed worker.
    retries = {} if heavy else {"max_retries": TASK_RETRIES}
    ds = ray.data.from_items([u.to_row() for u in units], override_num_blocks=blocks)
    src = pipeline.source
    scores = quality_scores()  # pinned in every task, so all parts of the run share one schema
    # Consecutive task-pool stages run as one chain inside one op, and the chain right after the
    # source runs in the expand task itself. Left to Ray Data, fusing a unit-per-row op with a stage
    # of batch_size 32 bundles 32 *units* into one task: a 20-unit run used one core of two.
    segments = _segments(pipeline.stages)
    head = segments.pop(0) if segments and isinstance(segments[0], list) else []
    expand = _named(_ExpandTask, "+".join([f"source:{src.name}", *(s.name for s in head)]))
    ds = ds.map_batches(expand(src, pipeline.versions(), head, scores), batch_size=None, batch_format="pyarrow",
                        num_cpus=max([src.resources.num_cpus, *_cpus(head)]), **retries,
                        **_concurrency(src.resources.concurrency))
    for segment in segments:
        if isinstance(segment, list):
            chain = _named(_ChainTask, "+".join(s.name for s in segment))
            ds = ds.map_batches(chain(segment, scores), batch_size=None, batch_format="pyarrow",
                                num_cpus=max(_cpus(segment)), **retries)
        else:
            ds = _map_stage(ds, segment, scores, retries)
    # The writer asks for no CPU: it mostly moves bytes to disk, and a CPU share would stop a full pool
    # of model actors from ever letting it run before the end. Its distinct resources also keep it out
    # of Ray's operator fusion: fused upstream, its large batch would make every task wait for a shard.
    # Under a memory limit one writer at a time: a writer holds a whole shard batch and its copies.
    writer = _named(_WriteTask, "write")
    ds = ds.map_batches(writer(str(opts.out), skip_ids, opts.write_rejects, scores), batch_size=opts.shard_rows,
                        batch_format="pyarrow", num_cpus=0, **retries, **_concurrency(1 if opts.memory else None))
    for row in ds.iter_rows():
        yield json.loads(row["record"])


def _retry_alone(pipeline: Pipeline, todo: list[Unit], store: ShardStore, opts: RunOptions,
                 failed: list[BaseException], kills: int) -> None:
    """Run the units that failed blocks left unfinished once more, each in a task of its own, so a unit that
    kills its worker takes no other unit with it; those that fail again become one error row each."""
    done = store.completed_units()
    left = [u for u in todo if u.id not in done]
    if left:
        again: list[BaseException] = []
        for record in _execute(pipeline, left, opts, store.committed_ids_of_partial_units(), again, alone=True):
            store.commit(record)
        failed = failed + again
        done = store.completed_units()
    lost = [u for u in left if u.id not in done]
    if lost:
        why = lost_units.reason(failed, opts.memory, kills, tries=2 * (TASK_RETRIES + 1))
        store.commit(lost_units.error_record(pipeline.source, lost, store.unit_rows(), why, opts.out))


def _global_pass(stage: GlobalStage, store: ShardStore, opts: RunOptions) -> None:
    """Decide across every committed sample (dedup), then move the decided samples from shards to rejects
    and apply the stage's edits (boilerplate removed from documents) to the samples that stay.

    Keys are computed on workers and shuffled by key so equal keys meet in one partition; pairs come
    back to the driver, which resolves them. Decisions are saved before any shard changes, and each
    shard's rewrite is idempotent, so a kill here resumes to the same result.
    """
    import ray

    started = time.perf_counter()
    state = store.global_state()
    if state.get("decided"):
        decisions = store.load_decisions()
        sigs = store.read_signatures(["id"])  # only where each sample lies
    else:
        sigs = store.read_signatures()
        pairs = _shuffled_pairs(stage, sigs) if sigs.num_rows else []
        decisions = stage.resolve(sigs, pa.concat_tables(pairs) if pairs else _empty_pairs(stage, sigs))
        store.save_decisions(decisions, stage.decisions_file)
        state = store.global_state()
    # Which shard holds each decided sample: the commit that wrote its summary.
    commit_of = dict(zip(sigs.column("id").to_pylist(), sigs.column("commit").to_pylist(), strict=True))
    by_shard: dict[str, dict[str, Any]] = {}
    for d in decisions.to_pylist():
        shard = store.shard_of_commit(commit_of[d["id"]])
        if shard is None:
            continue
        work = by_shard.setdefault(shard, {"drops": {}, "edits": {}})
        if d.get("action") == "edit":
            work["edits"].setdefault(d["id"], []).append(d)
        else:
            work["drops"][d["id"]] = (d["drop_reason"], d["drop_group"], d["note"])
    rewritten: dict[str, Any] = {}
    if by_shard:  # one plain task per shard: a Ray Data dataset here cost ~1.5 s of start-up on 2 CPUs
        stage_ref = ray.put(stage)
        remove = ray.remote(_remove_rows).options(max_retries=TASK_RETRIES)
        rewritten = dict(_bounded([functools.partial(remove.remote, str(store.out), opts.write_rejects, stage_ref,
                                                     shard, json.dumps(work, default=str))
                                   for shard, work in sorted(by_shard.items())]))
    report = stage.report(decisions)
    edited: dict[str, int] = {}
    for part in rewritten.values():
        for k, v in part.get("edited", {}).items():
            edited[k] = edited.get(k, 0) + v
    if edited:
        report["edited"] = dict(sorted(edited.items()))
    drops = sum(1 for a in (decisions.column("action").to_pylist() if "action" in decisions.column_names
                            else [None] * decisions.num_rows) if a != "edit")
    store.save_global_state({**state, "rewritten": rewritten, "complete": True, "stage": stage.name,
                             "decided": drops + edited.get("emptied", 0), "report": report,
                             "seconds": round(time.perf_counter() - started, 3)})


def _shuffled_pairs(stage: GlobalStage, sigs: pa.Table) -> list[pa.Table]:
    """A map-reduce shuffle on Ray tasks: each map task keys a block of summaries and splits its keys
    into partitions by hash; each reduce task gets one partition from every map task, so every row
    of a key meets in one place, and returns the candidate pairs found there.

    Ray Data's hash shuffle does the same but costs ~5 s of fixed start-up (measured on 2 CPUs), more
    than the whole pass on a 100k-sample run; plain tasks cost milliseconds.
    """
    import ray

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    n_parts = 2 * cpus
    step = max(2000, math.ceil(sigs.num_rows / (4 * cpus)))
    stage_ref = ray.put(stage)
    mapper = ray.remote(_keys_partitioned).options(num_returns=n_parts)
    reducer = ray.remote(_pairs_of_partition)
    maps = [mapper.remote(stage_ref, sigs.slice(i, step), n_parts) for i in range(0, sigs.num_rows, step)]
    if n_parts == 1:
        maps = [[m] for m in maps]
    tables = _bounded([functools.partial(reducer.remote, stage_ref, *[m[p] for m in maps]) for p in range(n_parts)])
    return [t for t in tables if t.num_rows]


def _bounded(submits: list[Callable[[], Any]]) -> list[Any]:
    """The results of Ray tasks, in order, with no more in flight than the cluster has CPUs.

    A task queued behind busy CPUs makes the raylet start a worker process for it: at the end of a
    753-page build, the global pass's 4 reduce and 3 shard tasks on 2 CPUs started 2 new workers,
    which imported Ray beside the running tasks and were never used."""
    import ray

    limit = max(1, int(ray.cluster_resources().get("CPU", 1)))
    refs: list[Any] = []
    running: list[Any] = []
    for submit in submits:
        if len(running) >= limit:
            _, running = ray.wait(running, num_returns=1)
        refs.append(submit())
        running.append(refs[-1])
    return ray.get(refs)


def _keys_partitioned(stage: GlobalStage, summaries: pa.Table, n_parts: int) -> list[pa.Table] | pa.Table:

    keys = stage.keys(summaries)
    part = (keys.column("key").to_numpy() & 0x7FFFFFFF) % n_parts
    out = [keys.filter(pa.array(part == p)) for p in range(n_parts)]
    return out if n_parts > 1 else out[0]


def _pairs_of_partition(stage: GlobalStage, *parts: pa.Table) -> pa.Table:
    return stage.pairs(pa.concat_tables(parts))


def _empty_pairs(stage: GlobalStage, sigs: pa.Table) -> pa.Table:
    return stage.pairs(stage.keys(sigs.slice(0, 0)))


def _remove_rows(out: str, write_rejects: bool, stage: GlobalStage, shard: str, work_json: str) -> tuple[str, Any]:
    work = json.loads(work_json)
    drops = {k: tuple(v) for k, v in work["drops"].items()}
    return shard, remove_rows(out, shard, drops, write_rejects, stage.name, edits=work["edits"], edit=stage.edit)


def _first_error(out: Path) -> str:
    """The first recorded error as `type: message`, for a one-line verdict on a run that made nothing."""
    import pyarrow.parquet as pq

    first = pq.read_table(out / "errors.parquet", columns=["error_type", "message"]).slice(0, 1).to_pylist()
    return f"{first[0]['error_type']}: {first[0]['message']}" if first else "no error recorded"


def _check_gpus(pipeline: Pipeline) -> None:
    """A stage that asks for more GPUs per task than the cluster has would wait forever in Ray's queue
    (Ray only warns that the task is infeasible); stop before any work instead."""
    import ray

    have = ray.cluster_resources().get("GPU", 0)
    named = [("source", pipeline.source), *((s.name, s) for s in pipeline.stages)]
    for name, stage in named:
        want = stage.resources.num_gpus
        if want and want > have:
            raise StageUnavailable(f"[resources.{name}] num_gpus = {want:g}, but the Ray "
                                   f"cluster has {have:g} GPUs; set num_gpus = 0, or run on a cluster with GPUs "
                                   f"(--ray-address)")


def _pool_size(r: Resources) -> int:
    """Actors for a model stage: as many as the cluster's GPUs allow when it asks for GPUs, else its CPUs."""
    import ray

    if r.concurrency:
        return r.concurrency
    if r.num_gpus:
        return max(1, int(ray.cluster_resources().get("GPU", 0) // r.num_gpus))
    return max(1, int(ray.cluster_resources().get("CPU", 1) // max(r.num_cpus, 1e-9)))


def _segments(stages: list[Stage]) -> list[list[Stage] | Stage]:
    """Split stages into chains of plain task stages (lists) and the stages that need their own op
    (actor pools, GPUs, a task stage with its own `concurrency`)."""
    out: list[list[Stage] | Stage] = []
    for stage in stages:
        r = stage.resources
        if r.actor or r.num_gpus or r.concurrency:
            out.append(stage)
        elif out and isinstance(out[-1], list):
            out[-1].append(stage)
        else:
            out.append([stage])
    return out


def _cpus(chain: list[Stage]) -> list[float]:
    return [s.resources.num_cpus for s in chain]


def _concurrency(n: int | None) -> dict[str, int]:
    return {"concurrency": n} if n else {}


def _named(cls: type, name: str) -> type:
    """A subclass of a task callable named after the stages it runs, so Ray Data's progress bars and
    operator names say `MapBatches(source:pdf+pii+image_filter)`, not `MapBatches(_run_chain)`."""
    return type(name, (cls,), {"__module__": cls.__module__})


def _map_stage(ds, stage: Stage, scores: tuple[str, ...], retries: dict[str, int]):
    r = stage.resources
    common: dict[str, Any] = {"batch_size": r.batch_size, "batch_format": "pyarrow", "num_cpus": r.num_cpus}
    if r.num_gpus:
        common["num_gpus"] = r.num_gpus
    if r.actor:
        import ray

        # No `max_task_retries`: any retry setting in a run with an actor pool hangs it (see `retries` in _stream).
        # A pool of model-holding actors as large as the CPUs allow, started at full size (Ray's
        # autoscaler kept one actor busy with every queued block: 1.09x on 2 CPUs). Two batches in flight
        # per actor: the next one waits inside the actor instead of after a round trip to the driver
        # (Tesseract on pre-rendered pages, 1 actor: 1.58-1.66 -> 1.77-1.83 pages/s; 2 actors: +4-7%).
        pool = ray.data.ActorPoolStrategy(size=_pool_size(r), max_tasks_in_flight_per_actor=2)
        actor = _named(_StageActor, stage.name)
        return ds.map_batches(actor, fn_constructor_args=(stage, scores), compute=pool, **common)
    chain = _named(_ChainTask, stage.name)
    return ds.map_batches(chain([stage], scores), **common, **retries, **_concurrency(r.concurrency))


# -- the worker side ----------------------------------------------------------------------------------
# Ray Data hands every task a fresh copy of its stages, deserialised from the plan. A worker process
# keeps the first copy of each stage it set up (by `setup_key()`: class, version, settings, model) and
# runs every later task with that one, so `setup()` (a model load) runs once per worker process.
_SET_UP_MAX = 32
GC_YOUNG_THRESHOLD = 10_000
_set_up: dict[str, Any] = {}


def _ready(obj: Stage | Source) -> tuple[Any, int]:
    """The set-up instance of `obj` in this process, and 1 if it was set up just now (else 0)."""
    key = obj.setup_key()
    found = _set_up.get(key)
    if found is not None:
        return found, 0
    obj.setup()
    _calm_gc()
    if len(_set_up) >= _SET_UP_MAX:  # a long-lived worker of many runs (tests): forget the oldest
        _set_up.pop(next(iter(_set_up)))
    _set_up[key] = obj
    return obj, 1


def _calm_gc() -> None:
    """Make Python's cyclic collector cheap in a stage worker: what set-up loaded (modules, models, tables)
    moves out of its reach for good (`gc.freeze`), and young collections run every 10,000 allocations
    instead of 700. Page work allocates many short-lived objects (a text layer's dicts) and few reference
    cycles, so the collector mostly walked live objects: on two real manuals' 120 pages, 600 young and 4
    full collections (90 ms each) cost 5.5 ms a page, 4% of the default chain; with these settings 1.7-3."""
    gc.freeze()
    if gc.get_threshold()[0] < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def run_chain(chain: list[Stage], batch: pa.Table) -> pa.Table:
    """Run task stages one after another over a block, each set up once per process and run in slices
    of its own batch size, counting what each did. Each image of the block is decoded once for all of
    them (`pipelines.images`: the products the chain's stages declared are derived at that decode)."""
    with images.scope(images.products_of(chain)):
        for given in chain:
            stage, setups = _ready(given)
            size = max(1, stage.resources.batch_size)

            def sliced(b: pa.Table, stage: Stage = stage, size: int = size) -> pa.Table:
                parts = [run_guarded(stage, b.slice(i, size)) for i in range(0, b.num_rows, size)]
                return pa.concat_tables(parts) if parts else b

            batch = measure(stage.name, batch, sliced, setups)
    return batch


class _ChainTask:
    """Task-pool form of a chain of stages (a callable object: Ray Data runs it as a task, not an actor)."""

    def __init__(self, chain: list[Stage], scores: tuple[str, ...]):
        self.chain, self.scores = chain, scores

    def __call__(self, batch: pa.Table) -> pa.Table:
        pin_quality_scores(self.scores)
        return run_chain(self.chain, conform(batch))


class _StageActor:
    """Actor-pool form: `setup()` (model loading) runs once when the actor starts."""

    def __init__(self, stage: Stage, scores: tuple[str, ...]):
        pin_quality_scores(scores)
        self.stage, self.scores = stage, scores
        stage.setup()
        _calm_gc()
        self.setups = 1

    def __call__(self, batch: pa.Table) -> pa.Table:
        pin_quality_scores(self.scores)
        out = measure(self.stage.name, conform(batch), functools.partial(run_guarded, self.stage), self.setups)
        self.setups = 0  # counted once, with the actor's first batch
        return out


class _ExpandTask:
    """Worker side of a source: expand units into rows (a unit that raises becomes one error row), then
    run the chain of task stages that follows the source."""

    def __init__(self, source: Source, versions: dict[str, str], chain: list[Stage], scores: tuple[str, ...]):
        self.source, self.versions, self.chain, self.scores = source, versions, chain, scores

    def __call__(self, batch: pa.Table) -> pa.Table:
        pin_quality_scores(self.scores)
        source, setups = _ready(self.source)
        # One image scope for the source and its chain: what the source decodes (a figure crop it
        # classifies) the chain's stages need not decode again.
        with images.scope(images.products_of(self.chain)):
            started = time.process_time()
            units = [Unit.from_row(r) for r in batch.to_pylist()]
            rows = [row for unit in units for row in _expand_unit(source, unit, self.versions)]
            table = to_table(rows)
            errors = sum(1 for r in rows if r.get(ERROR_COL) is not None)
            counts = {"rows_in": len(units), "rows_out": len(rows) - errors, "dropped": 0, "errors": errors,
                      "seconds": time.process_time() - started, "setups": setups}
            table = attach(table, {"source": counts})
            return run_chain(self.chain, table)


def _expand_unit(source: Source, unit: Unit, versions: dict[str, str]) -> list[dict[str, Any]]:
    try:
        produced = list(source.expand(unit))
    except Exception as e:
        produced = [failure(source=source.sample_source, uri=unit.uri, locator=unit.locator,
                            stage=source.qualified_name, error=e)]
    if not produced:
        produced = [failure(source=source.sample_source, uri=unit.uri, locator=unit.locator,
                            stage=source.qualified_name, error_type="NothingExtracted",
                            message=f"{unit.id} produced no samples")]
    for row in produced:
        row[UNIT_COL], row[UNIT_ROWS_COL] = unit.id, len(produced)
        row.setdefault("keep", True)
        if row.get(ERROR_COL) is None:
            row["meta"] = _with_versions(row.get("meta"), versions)
    return produced


def _with_versions(meta: str | None, versions: dict[str, str]) -> str:
    d = json.loads(meta) if meta else {}
    d["versions"] = versions
    return meta_json(d)


class _WriteTask:
    def __init__(self, out: str, skip_ids: frozenset[str], write_rejects: bool, scores: tuple[str, ...]):
        self.out, self.skip_ids, self.write_rejects, self.scores = out, skip_ids, write_rejects, scores

    def __call__(self, batch: pa.Table) -> pa.Table:
        pin_quality_scores(self.scores)
        try:
            record = write_part(conform(batch), self.out, self.skip_ids, self.write_rejects)
        except Exception as e:  # handed to the driver, which stops the run (never a block Ray Data may skip)
            record = {"failed": f"{type(e).__name__}: {e}", "os_error": isinstance(e, OSError)}
        return pa.table({"record": [json.dumps(record)]})
