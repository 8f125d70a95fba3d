"""Run configuration as data: one TOML file, validated once at start, overridden by CLI flags.

Every setting lives in a section of dataclasses below; an unknown key or a value of the wrong
type stops the run before any work starts, with a message that names the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from annotators.ocr.backend import OcrConfig
from filters.agreement import AgreementConfig
from filters.dedup.config import DedupConfig
from filters.image import ImageFilterConfig
from filters.lang import LangFilterConfig
from filters.pii import PiiConfig
from filters.quality import QualityConfig
from filters.text import TextFilterConfig
from sources.chart.source import ChartConfig
from sources.dataset.config import DatasetConfig
from sources.pdf import PdfConfig
from sources.web.source import WebConfig
from taxonomy.instructions import InstructionConfig
from taxonomy.tagger import TaggerConfig

SOURCES = ("pdf", "web", "chart", "dataset", "mix")
OCR_BACKENDS = ("rapidocr", "paddleocr", "tesseract", "none")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the config or typed the command."""


@dataclass(frozen=True)
class RunSettings:
    """How and where a run executes. `limit` caps the items (pages) planned, for a quick look."""

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


@dataclass(frozen=True)
class RaySettings:
    """[ray]: memory of the local Ray instance (a cluster's nodes get theirs from `ray start`).

    `object_store_mb` 0 means a tenth of RAM kept between 512 MiB and 1 GiB (1 GiB on a 24 GiB machine:
    blocks stream through it, and Ray Data's backpressure holds producers back when it fills);
    `spill_dir` is where objects that do not fit go ("" = Ray's temp folder)."""

    object_store_mb: int = 0
    spill_dir: str = ""


@dataclass(frozen=True)
class StageResources:
    """[resources.<stage>]: how a stage (or `source`) is scheduled; unset keys keep the stage's own."""

    num_cpus: float | None = None
    num_gpus: float | None = None
    concurrency: int | None = None  # workers of an actor-pool stage (OCR); None = as many as the CPUs allow
    batch_size: int | None = None


@dataclass(frozen=True)
class MixEntry:
    """One [[mix.sources]] entry: a source, its inputs, and how much of the mix it makes.

    `weight` is the entry's share of `run.limit` items (pages, charts, rows) when a total is set; an entry
    that has fewer items than its share gives what it has and the rest goes to the others. `limit` caps
    the entry alone. `dataset` is the column map and name of a dataset entry (default: the [dataset] section).
    """

    source: str = ""
    inputs: tuple[str, ...] = ()
    weight: float = 1.0
    limit: int | None = None
    dataset: DatasetConfig | None = None


@dataclass(frozen=True)
class MixSettings:
    """[mix]: the entries of `run.source = "mix"`, built into one dataset."""

    sources: tuple[MixEntry, ...] = ()


@dataclass(frozen=True)
class FilterSettings:
    """The [filters.*] sections, one per filter, in the order the filters run."""

    pii: PiiConfig = field(default_factory=PiiConfig)
    image: ImageFilterConfig = field(default_factory=ImageFilterConfig)
    lang: LangFilterConfig = field(default_factory=LangFilterConfig)
    text: TextFilterConfig = field(default_factory=TextFilterConfig)
    agreement: AgreementConfig = field(default_factory=AgreementConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)


@dataclass(frozen=True)
class Config:
    """The whole run: [run], [pdf], [chart], [web] (+ [web.crawl]), [dataset], [ocr], [filters.*], [dedup],
    [tagger], [instructions], [[mix.sources]], [ray] and [resources.<stage>] sections."""

    run: RunSettings = field(default_factory=RunSettings)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    chart: ChartConfig = field(default_factory=ChartConfig)
    web: WebConfig = field(default_factory=WebConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    filters: FilterSettings = field(default_factory=FilterSettings)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    tagger: TaggerConfig = field(default_factory=TaggerConfig)
    instructions: InstructionConfig = field(default_factory=InstructionConfig)
    mix: MixSettings = field(default_factory=MixSettings)
    ray: RaySettings = field(default_factory=RaySettings)
    resources: dict[str, StageResources] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A hash of every setting that changes the samples, so a resume never mixes two settings."""
        d = to_dict(self)
        for k in ("out", "ray_address", "num_cpus", "report", "fresh"):
            d["run"].pop(k)
        for k in ("ray", "resources"):  # where and how fast it runs, not what it makes
            d.pop(k)
        for k in ("threads", "workers", "batch_size"):  # how OCR is scheduled, not what it reads
            d["ocr"].pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, section: str, **changes: Any) -> Config:
        """A copy with some keys of one section changed (None values are ignored, as for absent flags)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **changes)})


def to_dict(obj: Any) -> Any:
    """A JSON-able view of a config, for the manifest."""
    d = dataclasses.asdict(obj)
    return json.loads(json.dumps(d))


def load(path: str | Path | None) -> Config:
    """Read and validate a TOML config (None gives the defaults)."""
    if path is None:
        return Config()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return _build(Config, data, prefix="")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown config key '{prefix}{key}' (known in this section: {', '.join(sorted(names))})")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, prefix=f"{key}.")
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        if dataclasses.is_dataclass(args[0]):  # [[tables]]: name the entry, e.g. mix.sources[1].weight
            return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        return tuple(_coerce(args[0], v, key) for v in value)
    if origin is dict:  # a table of named entries, e.g. [resources.ocr]
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a table, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if type(None) in args:  # Optional[X]
        inner = next(a for a in args if a is not type(None))
        return _coerce(inner, value, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"config key '{key}' must be {tp.__name__}, got {value!r}")
    return value
