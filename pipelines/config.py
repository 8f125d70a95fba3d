"""Run configuration as data: one TOML file, validated once at start, overridden by CLI flags.

The sections come from the registry: every registered source and stage names its section and its
settings dataclass where it is defined (`[pdf]` is `PdfConfig` in sources/pdf.py, `[filters.text]` is
`TextFilterConfig` in filters/text.py), and the kernel adds its own: [run], [ray], [mix] and
[resources.<stage>]. An unknown key, a value of the wrong type or out of range stops the run before
any work starts, with a message that names the key. Range checks live beside their dataclass, in a
`validate()` method; `Config.validate()` (called by `load()` and by the CLI after its flags) runs
them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from pipelines import registry
from pipelines.stage import ConfigError


@dataclass(frozen=True)
class RunSettings:
    """[run]: how and where a run executes.

    `limit` caps the items (pages) planned, for a quick look; `max_error_share` is the circuit breaker:
    a stage that fails on more than this share of its rows fails the run (exit status 1) with its name."""

    source: str = "pdf"
    inputs: tuple[str, ...] = ()
    out: str = ""
    ray_address: str | None = None
    num_cpus: int | None = None
    limit: int | None = None
    shard_rows: int = 1000
    write_rejects: bool = True
    filters: bool = True
    report: bool = True  # write OUT/report.html at the end (--no-report)
    fresh: bool = False  # discard what `out` holds and start over (--fresh)
    max_error_share: float = 0.5

    def validate(self) -> None:
        names = source_names()
        if self.source not in names:
            raise ConfigError(f"source must be one of {', '.join(names)}, got {self.source!r}", "source")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be at least 1, got {self.limit}", "limit")
        if self.shard_rows < 1:
            raise ConfigError(f"shard_rows must be at least 1, got {self.shard_rows}", "shard_rows")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"num_cpus must be at least 1, got {self.num_cpus}", "num_cpus")
        if not 0 < self.max_error_share <= 1:
            raise ConfigError(f"max_error_share must be in (0, 1], got {self.max_error_share}", "max_error_share")
        if self.source == "mix" and self.inputs:
            raise ConfigError("inputs: --input does not apply to a mix: give each [[mix.sources]] entry its own "
                              "inputs", "inputs")
        for raw in self.inputs:
            if not Path(raw).exists():
                raise ConfigError(f"inputs: {raw} does not exist", "inputs")


@dataclass(frozen=True)
class RaySettings:
    """[ray]: memory of the local Ray instance (a cluster's nodes get theirs from `ray start`).

    `object_store_mb` 0 means a tenth of RAM kept between 512 MiB and 1 GiB (1 GiB on a 24 GiB machine:
    blocks stream through it, and Ray Data's backpressure holds producers back when it fills);
    `spill_dir` is where objects that do not fit go ("" = Ray's temp folder); `memory_limit` ("1.5G", "" = the
    memory cgroup's limit, if any) sizes workers, object store and writer batches to fit
    (pipelines/memory_budget.py)."""

    object_store_mb: int = 0
    spill_dir: str = ""
    memory_limit: str = ""

    def validate(self) -> None:
        if self.memory_limit:
            from pipelines.memory_budget import parse_size

            try:
                parse_size(self.memory_limit)
            except ValueError as e:
                raise ConfigError(f"memory_limit: {e}", "memory_limit") from None
        if self.object_store_mb and self.object_store_mb < 100:
            raise ConfigError(f"object_store_mb must be 0 (automatic) or at least 100, got {self.object_store_mb}",
                              "object_store_mb")


@dataclass(frozen=True)
class StageResources:
    """[resources.<stage>]: how a stage (or `source`) is scheduled; unset keys keep the stage's own.

    `concurrency` is the number of workers: actors of a model stage (default: as many as the CPUs allow),
    or at most that many tasks at once for the source and for a task stage (which then runs as its own
    Ray Data operator instead of in the chain of its neighbours)."""

    num_cpus: float | None = None
    num_gpus: float | None = None
    concurrency: int | None = None
    batch_size: int | None = None

    def validate(self) -> None:
        for key in ("num_cpus", "num_gpus"):
            if (v := getattr(self, key)) is not None and v < 0:
                raise ConfigError(f"{key} must not be negative, got {v}", key)
        for key in ("concurrency", "batch_size"):
            if (v := getattr(self, key)) is not None and v < 1:
                raise ConfigError(f"{key} must be at least 1, got {v}", key)


class _ConfigBase:
    """Methods of the run's `Config` class, which `config_class()` assembles from the registry."""

    def fingerprint(self) -> str:
        """A hash of every setting that changes the samples, so a resume never mixes two settings."""
        d = to_dict(self)
        for k in ("out", "ray_address", "num_cpus", "report", "fresh", "max_error_share"):
            d["run"].pop(k)
        for k in ("ray", "resources"):  # where and how fast it runs, not what it makes
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, section: str, **changes: Any) -> Any:
        """A copy with some keys of one section changed (None values are ignored, as for absent flags).
        `section` may be dotted (`filters.text`, `web.crawl`)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return set_key(self, section.split("."), changes)

    def validate(self) -> Any:
        """Run every section's range checks; the error names the full key (`pdf.dpi`). Returns self."""
        _validate(self, "")
        for name in self.resources:  # type: ignore[attr-defined]
            if name != "source" and name not in registry.stage_names():
                raise ConfigError(f"unknown config key 'resources.{name}' (stages: "
                                  f"{', '.join(('source', *registry.stage_names()))})", f"resources.{name}")
        return self


def section(cfg: Any, name: str | None) -> Any:
    """The settings of a dotted section (`filters.text`) of a config; None for a class without one."""
    if name is None:
        return None
    for part in filter(None, name.split(".")):
        cfg = getattr(cfg, part)
    return cfg


def set_key(obj: Any, path: list[str], changes: dict[str, Any]) -> Any:
    """`obj` with the dataclass at `path` inside it given `changes`."""
    if not path:
        return dataclasses.replace(obj, **changes)
    return dataclasses.replace(obj, **{path[0]: set_key(getattr(obj, path[0]), path[1:], changes)})


def _validate(obj: Any, prefix: str) -> None:
    if not dataclasses.is_dataclass(obj):
        return
    check = getattr(obj, "validate", None)
    if check is not None and not isinstance(obj, _ConfigBase):
        try:
            check()
        except ConfigError as e:
            key = f"{prefix}{e.key}" if e.key else prefix.rstrip(".")
            raise ConfigError(f"{prefix}{e}" if prefix else str(e), key) from None
        except ValueError as e:
            raise ConfigError(f"{prefix.rstrip('.')}: {e}", prefix.rstrip(".")) from None
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            for i, item in enumerate(value):
                _validate(item, f"{prefix}{f.name}[{i}].")
        elif isinstance(value, dict):  # [resources.<stage>]
            for k, item in value.items():
                _validate(item, f"{prefix}{f.name}.{k}.")
        else:
            _validate(value, f"{prefix}{f.name}.")


def source_names() -> tuple[str, ...]:
    return registry.source_names()


def _validate_mix_entry(entry: Any) -> None:
    """The checks of one [[mix.sources]] entry (the error is prefixed with `mix.sources[i].`)."""
    names = [n for n in source_names() if n != "mix"]
    if entry.source not in names:
        raise ConfigError(f"source: unknown source {entry.source!r} (available: {', '.join(names)})", "source")
    if not entry.weight > 0:
        raise ConfigError(f"weight must be above 0, got {entry.weight}", "weight")
    if entry.limit is not None and entry.limit < 1:
        raise ConfigError(f"limit must be at least 1, got {entry.limit}", "limit")
    for raw in entry.inputs:
        if not Path(raw).exists():
            raise ConfigError(f"inputs: {raw} does not exist", "inputs")


_classes: dict[tuple[Any, ...], type] = {}


def config_class() -> type:
    """The `Config` dataclass for the registered sections, built once per set of sections.

    Its fields: `run`, then one per registered section (`pdf`, `chart`, ..., `ocr`, `filters` holding
    `filters.*`, `dedup`, `tagger`, ...), then `mix`, `ray` and `resources`.
    """
    sections = registry.sections()
    key = tuple((name, cls) for name, cls in sections.items())
    if key in _classes:
        return _classes[key]
    top: dict[str, type] = {}
    nested: dict[str, dict[str, type]] = {}
    for name, cls in sections.items():
        head, _, rest = name.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = cls
        else:
            top[name] = cls
    for head, members in nested.items():
        top[head] = dataclasses.make_dataclass(
            f"{head.title()}Settings", [(n, c, field(default_factory=c)) for n, c in members.items()], frozen=True)
        top[head].__doc__ = f"The [{head}.*] sections, in the order their stages run."
    source_sections = {e.section: sections[e.section] for e in registry.entries("source")
                       if e.section in sections}
    entry_cls = dataclasses.make_dataclass("MixEntry", [
        ("source", str, field(default="")),
        ("inputs", tuple[str, ...], field(default=())),
        ("weight", float, field(default=1.0)),
        ("limit", int | None, field(default=None)),
        *[(name, cls | None, field(default=None)) for name, cls in source_sections.items()],
    ], frozen=True, namespace={"validate": _validate_mix_entry})
    entry_cls.__doc__ = (
        "One [[mix.sources]] entry: a source, its inputs, and how much of the mix it makes. `weight` is the "
        "entry's share of `run.limit` items when a total is set (what an entry lacks goes to the others); "
        "`limit` caps the entry alone; a table named after its source ([mix.sources.dataset]) replaces that "
        "section's settings for this entry.")
    mix_cls = dataclasses.make_dataclass("MixSettings", [("sources", tuple[entry_cls, ...], field(default=()))],
                                         frozen=True)
    mix_cls.__doc__ = "[mix]: the entries of `run.source = \"mix\"`, built into one dataset."
    cls = dataclasses.make_dataclass("Config", [
        ("run", RunSettings, field(default_factory=RunSettings)),
        *[(name, c, field(default_factory=c)) for name, c in top.items()],
        ("mix", mix_cls, field(default_factory=mix_cls)),
        ("ray", RaySettings, field(default_factory=RaySettings)),
        ("resources", dict[str, StageResources], field(default_factory=dict)),
    ], bases=(_ConfigBase,), frozen=True)
    cls.__doc__ = "The whole run: [run], one section per registered source and stage, [mix], [ray], [resources.*]."
    cls.__module__ = __name__
    _classes[key] = cls
    return cls


def __getattr__(name: str) -> Any:
    if name == "Config":
        return config_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_dict(obj: Any) -> Any:
    """A JSON-able view of a config, for the manifest."""
    d = dataclasses.asdict(obj)
    return json.loads(json.dumps(d))


def load(path: str | Path | None) -> Any:
    """Read and validate a TOML config (None gives the defaults)."""
    cls = config_class()
    if path is None:
        return cls()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return build_section(cls, data, prefix="").validate()


def build_section(cls: type, data: Any, prefix: str) -> Any:
    """A dataclass from a TOML table, every key checked against its fields and their types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table, got {type(data).__name__}",
                          prefix.rstrip("."))
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown config key '{prefix}{key}' (known in this section: {', '.join(sorted(names))})",
                              f"{prefix}{key}")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return build_section(tp, value, prefix=f"{key}.")
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}", key)
        if dataclasses.is_dataclass(args[0]):  # [[tables]]: name the entry, e.g. mix.sources[1].weight
            return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        return tuple(_coerce(args[0], v, key) for v in value)
    if origin is dict:  # a table of named entries, e.g. [resources.ocr]
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a table, got {value!r}", key)
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if type(None) in args:  # Optional[X]
        inner = next(a for a in args if a is not type(None))
        return _coerce(inner, value, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"config key '{key}' must be {tp.__name__}, got {value!r}", key)
    return value
