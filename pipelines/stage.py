"""The stage and source protocols: the only things the runner knows about the work it schedules.

A *stage* is a callable over a batch of samples (a ``pyarrow.Table`` of the sample schema). It has a
name and version (recorded in every sample's provenance and in the manifest), the columns it reads
and writes, and the resources it needs. ``setup()`` loads models once per worker; ``process()``
does the work. A stage is a plain object, testable by calling it on a small table without Ray; the
runner maps it onto Ray Data's ``map_batches`` (a task pool, or an actor pool when ``actor=True``).

A *source* expands a unit of work (a page range of one PDF, a site, a chart spec) into samples.
``plan()`` runs on the driver and must be cheap; ``expand()`` runs on workers.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema import ERROR_COL, sample_id


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs, and how it is scheduled.

    `actor=True` keeps the stage alive in a pool of `concurrency` workers, so a model loads once
    per worker instead of once per batch.
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    actor: bool = False
    concurrency: int | None = None
    batch_size: int = 32


class Stage(ABC):
    """A step over batches of samples: annotator, filter, tagger or instruction builder."""

    name: ClassVar[str]
    version: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    role: ClassVar[str] = "stage"  # "filter" for the quality filters, which `run.filters = false` skips
    resources: Resources = Resources()
    config: Any = None  # the stage's settings (its registered section's dataclass), part of its setup key

    @classmethod
    def enabled(cls, settings: Any) -> bool:
        """Whether the stage runs with these settings of its section (`enabled = false` turns most off)."""
        return bool(getattr(settings, "enabled", True))

    def setup(self) -> None:  # noqa: B027 - optional hook, a no-op for stages without a model
        """Load models or open pools; called once per worker process before the first batch (the runner
        keeps the set-up instance and reuses it for every later task with the same setup key)."""

    def setup_key(self) -> str:
        """What makes two copies of the stage interchangeable once set up: class, version and settings."""
        return _setup_key(self)

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Check on the driver, before any work, that the stage can run (its model is here)."""

    @abstractmethod
    def process(self, batch: pa.Table) -> pa.Table:
        """Return the batch with this stage's columns filled; never drop rows."""

    @property
    def qualified_name(self) -> str:
        return f"{self.name}/{self.version}"


class GlobalStage(Stage):
    """A stage that needs every sample of a run at once, such as dedup.

    It works in two halves. `process()` runs on each batch as it streams, like any stage, and writes
    a compact per-sample summary into the `_sig` column, which the shard writer keeps beside each
    part. After the last unit is committed the runner reads all summaries back (numbered by a `row`
    column) and, on Ray: `keys()` turns blocks of summaries into (key, row, method) rows; a shuffle
    brings equal keys together; `pairs()` turns each shuffled partition into candidate pairs; then
    `resolve()` on the driver verifies them and returns its decisions: one row per sample to drop,
    with `id`, `drop_reason`, `drop_group` (its name in the funnel) and `note` (JSON the sample's
    `meta` keeps under the stage's name), and any columns of the stage's own. The runner saves them
    in `decisions_file` (for audit; before any shard changes, so a kill resumes to the same result),
    moves the decided samples from the shards to the rejects, and puts `report(decisions)` in
    stats.json under the stage's name.

    A decision may also *edit* a sample instead of dropping it (boilerplate removed from a document):
    such rows have `action = "edit"` (rows without an `action` column, or with "drop", are drops) and
    are handed, grouped by id, to `edit()` on the worker that rewrites the sample's shard.
    """

    decisions_file: ClassVar[str] = "decisions.parquet"

    role = "global"

    @abstractmethod
    def keys(self, summaries: pa.Table) -> pa.Table:
        """Grouping keys of a block of summaries: columns key (int64), row (int64), method (int8)."""

    @abstractmethod
    def pairs(self, keys: pa.Table) -> pa.Table:
        """Candidate pairs (a, b, method) among rows sharing a key; `keys` holds every row of its keys."""

    @abstractmethod
    def resolve(self, summaries: pa.Table, pairs: pa.Table) -> pa.Table:
        """Decisions: the samples to drop (id, drop_reason, drop_group, note, and the stage's own columns)."""

    def edit(self, rows: pa.Table, edits: dict[str, list[dict[str, Any]]]) -> tuple[pa.Table, dict[str, int]]:
        """Apply edit decisions to some rows of a shard (sample schema; `edits` maps an id to its edit
        rows as dicts) and say what changed (counts, summed over the run into the report's `edited`).

        Must be idempotent: rows it already edited come back unchanged, with no counts, so a rewrite
        cut off by a kill is redone to the same result. A row it sets `keep = false` (with its
        `drop_reason`) leaves the shard for the rejects. The default edits nothing."""
        return rows, {}

    def report(self, decisions: pa.Table) -> dict[str, Any]:
        """What stats.json (and the run summary) says of the decisions."""
        return {"decided": decisions.num_rows}


@dataclass(frozen=True)
class Unit:
    """One independent piece of a source's work; the grain of resume.

    `id` must be stable across runs for the same input and settings. `size` is the number of items
    (pages, URLs, charts) the unit covers, for progress and the items/s figure.
    """

    id: str
    uri: str
    size: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def locator(self) -> str:
        """Where in its input the unit lies (the part of the id after '#'), for error rows; "unit" when
        the id says nothing more."""
        _, sep, where = self.id.rpartition("#")
        return where if sep and where else "unit"

    def to_row(self) -> dict[str, Any]:
        return {"unit": json.dumps({"id": self.id, "uri": self.uri, "size": self.size, "params": self.params})}

    @staticmethod
    def from_row(row: dict[str, Any]) -> Unit:
        d = json.loads(row["unit"])
        return Unit(d["id"], d["uri"], d["size"], d["params"])


class Source(ABC):
    """Turns inputs into units (on the driver), and each unit into sample rows (on a worker)."""

    name: ClassVar[str]
    version: ClassVar[str]
    item_name: ClassVar[str] = "items"  # what a unit's `size` counts, e.g. "pages"
    resources: Resources = Resources()
    # What `plan()` read, for the manifest: the input roots its files' uris are relative to.
    input_roots: tuple[str, ...] = ()
    # Set by the runner before `plan()`: a folder inside the output that survives reruns, where a source
    # whose planning is costly or not repeatable (a crawl) keeps what it found, so a resume continues it.
    state_dir: Path | None = None

    @abstractmethod
    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        """List the units of work for these inputs, at most `limit` items in all."""

    @abstractmethod
    def expand(self, unit: Unit) -> Iterable[dict[str, Any]]:
        """Yield the sample rows (and `failure()` rows) of one unit. Raising records the whole unit as failed."""

    def __init__(self, config: Any = None):
        self.config = config  # its registered section's settings

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Open long-lived resources (a browser pool); called once per worker process."""

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Check on the driver, before any work, that the source can run (a model it needs is here)."""

    @property
    def sample_source(self) -> str:
        """The `source` value its samples carry (the funnel counts by it)."""
        return self.name

    def setup_key(self) -> str:
        return _setup_key(self)

    @classmethod
    def from_config(cls, settings: Any, config: Any) -> Source:
        """The source of a run: built from its section's `settings` (`config` is the whole run's, for
        sources that need more, such as a mix)."""
        return cls(settings) if settings is not None else cls()

    @property
    def qualified_name(self) -> str:
        return f"{self.name}/{self.version}"


def _setup_key(obj: Stage | Source) -> str:
    cls = type(obj)
    config = getattr(obj, "config", None)
    settings = (repr(config) if config is not None else "") + repr(getattr(obj, "resources", None))
    return f"{cls.__module__}.{cls.__qualname__}/{obj.version}:{hashlib.sha256(settings.encode()).hexdigest()[:16]}"


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the config or typed the command. `key`
    names the setting (`pdf.dpi`) when there is one, so the CLI can also name the flag that set it."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class StageUnavailable(RuntimeError):
    """A stage cannot run on this machine (a missing model or package); the message says what to do."""


class ShipsModel:
    """Mixin for stages whose model is read (or trained) once, on the driver, in `preflight()`, and then
    travels to the workers inside the stage as bytes: cluster nodes need no copy of the model file, and
    the loaded model (which does not pickle) is rebuilt once per worker in `setup()`.

    A stage names how to get the model on the driver (`driver_model`, None to run without one) and how
    to rebuild it from bytes (`model_from_bytes`); the model object must have `to_bytes()`.
    """

    _model_bytes: bytes | None = None
    _model_digest: str = ""
    _model: Any = None

    def driver_model(self) -> Any | None:
        raise NotImplementedError

    def model_from_bytes(self, data: bytes) -> Any:
        raise NotImplementedError

    def preflight(self) -> None:
        model = self.driver_model()
        self._model_bytes = None if model is None else model.to_bytes()
        self._model_digest = hashlib.blake2b(self._model_bytes or b"", digest_size=8).hexdigest()

    def setup(self) -> None:
        if self._model_bytes is None:
            self.preflight()
        self._model = None if self._model_bytes is None else self.model_from_bytes(self._model_bytes)

    def setup_key(self) -> str:
        """The settings and the model itself: a worker keeps one set-up copy per model."""
        return f"{_setup_key(self)}:{self._model_digest}"


def configured_model(configured: str, default: Path, load: Any, load_or_train: Any, what: str, train: str) -> Any:
    """A model from the file a user configured (which must exist), or the project's own, trained when stale."""
    if not configured:
        return load_or_train(default)
    path = Path(configured)
    if not path.is_file():
        raise StageUnavailable(f"{what} {path} does not exist (train one: {train})")
    return load(path)


class InputError(Exception):
    """A bad input, described for a person: `error_type` is a short class such as EncryptedPDF."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def failure(*, source: str, uri: str, locator: str, stage: str, error: BaseException | None = None,
            error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    """A row that records an input that could not be processed; the runner routes it to errors.parquet."""
    if error is not None:
        error_type = error_type or getattr(error, "error_type", None) or type(error).__name__
        message = message or str(error) or repr(error)
    error_type = error_type or "Error"
    message = message or "unknown error"
    return {
        "id": sample_id(source, uri, locator, f"error:{stage}:{error_type}"),
        "source": source,
        "uri": uri,
        "locator": locator,
        "keep": False,
        "drop_reason": f"error:{error_type}",
        ERROR_COL: json.dumps({"stage": stage, "error_type": error_type, "message": message}),
    }


def run_guarded(stage: Stage, batch: pa.Table) -> pa.Table:
    """Run `stage` on the good rows of `batch`, passing error rows through untouched.

    If the stage raises on a batch, each row is retried alone, so one bad sample becomes one error
    row and every good sample in the same batch is kept.
    """
    from pipelines.schema import conform

    if batch.num_rows == 0:
        return batch
    ok_mask = pc.is_null(batch.column(ERROR_COL))
    if not pc.all(ok_mask).as_py():
        good = batch.filter(ok_mask)
        bad = batch.filter(pc.invert(ok_mask))
        return pa.concat_tables([run_guarded(stage, good), bad]) if good.num_rows else bad
    try:
        return conform(stage.process(batch))
    except Exception as e:
        if batch.num_rows == 1:
            return _mark_failed(stage, batch, e)
        return pa.concat_tables([run_guarded(stage, batch.slice(i, 1)) for i in range(batch.num_rows)])


def _mark_failed(stage: Stage, row: pa.Table, error: Exception) -> pa.Table:
    from pipelines.schema import conform, set_columns

    rec = json.dumps({"stage": stage.qualified_name, "error_type": getattr(error, "error_type", type(error).__name__),
                      "message": str(error) or repr(error)})
    return set_columns(conform(row), **{ERROR_COL: [rec], "keep": [False]})


@dataclass(frozen=True)
class InputFile:
    """A file a source reads: where it is (`path`, for opening it), the input root it was found under,
    and its `uri`: the path relative to that root. Ids and the `uri` column use the relative path, so the
    same files in another folder, or inside a Ray job's uploaded working directory, give the same ids."""

    path: Path
    root: Path
    uri: str


def find_input_files(inputs: Sequence[str], suffixes: Sequence[str]) -> list[InputFile]:
    """The files a source reads: files as given (their folder is their root), and files with one of
    `suffixes` (any case) under folders (recursive; the folder is their root), each once, in a stable
    order. A path that does not exist is an error."""
    wanted = {x.lower() for x in suffixes}
    found: list[tuple[Path, Path]] = []
    for raw in inputs:
        p = Path(raw).resolve()
        if p.is_dir():
            found.extend((q, p) for q in sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in wanted))
        elif p.is_file():
            found.append((p, p.parent))
        else:
            raise FileNotFoundError(f"input {raw} does not exist")
    seen: set[Path] = set()
    uris: set[str] = set()
    out = []
    for path, root in found:
        if path in seen:
            continue
        seen.add(path)
        out.append(InputFile(path, root, unique_uri(path, root, uris)))
    return out


def unique_uri(path: Path, root: Path, taken: set[str]) -> str:
    """`path` relative to `root` in POSIX form; where two roots hold the same relative path, the later
    one is prefixed with its root's folder name (then a number), so units and ids stay unique."""
    rel = path.relative_to(root).as_posix()
    uri, n = rel, 1
    while uri in taken:
        uri = f"{root.name}/{rel}" if n == 1 else f"{root.name}~{n}/{rel}"
        n += 1
    taken.add(uri)
    return uri
