"""One registry: every source, stage and OCR backend declares itself where it is defined.

A class says who it is with a decorator in its own file:

    @register_stage(order=240, section="filters.text", config=TextFilterConfig)
    class TextFilter(Filter): ...

and everything that used to be a hand-kept list is derived from the registry: the sources the CLI
offers (`--source`), the pipeline of every source (its section's settings, then the registered
stages in `order`), the config sections and their dataclasses (`[pdf]`, `[filters.text]`), the
stage names `[resources.<stage>]` accepts, the OCR backends, and the quality scores in the schema.
A new filter or source is one new file under `sources/`, `annotators/`, `filters/` or `taxonomy/`:
`discover()` imports every module there that registers something (found by reading the files, so
nothing else is imported), and modules named in `$VLFORGE_PLUGINS` (comma-separated) for code that
lives elsewhere.

Stage order is a number so a new stage slots in without editing a list: annotators 100-199 (they
add columns the filters read), filters 200-299, global stages 400-499, tagging 500-599.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = ("sources", "annotators", "filters", "taxonomy")
KERNEL_MODULES = ("pipelines.mix",)  # the kernel's own source (a mix of the others)
MARKER = "@register_"
T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class Entry:
    """What a registered class declared: its kind (source, stage, ocr), name, class, the TOML section of
    its settings and their dataclass, its place in the chain (stages) and the quality scores it adds."""

    kind: str
    name: str
    cls: type
    section: str | None = None
    config: type | None = None
    order: float = 0.0
    scores: tuple[str, ...] = ()


_entries: dict[tuple[str, str], Entry] = {}


def _add(entry: Entry) -> None:
    old = _entries.get((entry.kind, entry.name))
    if old is not None and f"{old.cls.__module__}.{old.cls.__qualname__}" != \
            f"{entry.cls.__module__}.{entry.cls.__qualname__}":
        raise ValueError(f"two {entry.kind}s named {entry.name!r}: {old.cls.__module__}.{old.cls.__qualname__} "
                         f"and {entry.cls.__module__}.{entry.cls.__qualname__}")
    clash = [e for e in _entries.values() if entry.section and e.section == entry.section
             and (e.kind, e.name) != (entry.kind, entry.name) and e.config is not entry.config]
    if clash:
        raise ValueError(f"config section [{entry.section}] is claimed by {clash[0].name} and {entry.name}")
    _entries[(entry.kind, entry.name)] = entry


def register_source(*, section: str | None = None, config: type | None = None) -> Callable[[T], T]:
    """Declare a `Source` subclass: `--source <its name>` builds it from `[section]` (a `config` dataclass)."""

    def wrap(cls: T) -> T:
        _add(Entry("source", cls.name, cls, section, config))
        return cls

    return wrap


def register_stage(*, order: float, section: str | None = None, config: type | None = None,
                   scores: tuple[str, ...] = ()) -> Callable[[T], T]:
    """Declare a `Stage` subclass: it runs in every pipeline at `order`, built from `[section]`; `scores`
    are the `quality` fields it writes (a filter's)."""

    def wrap(cls: T) -> T:
        _add(Entry("stage", cls.name, cls, section, config, order, tuple(scores)))
        return cls

    return wrap


def register_ocr_backend(name: str) -> Callable[[T], T]:
    """Declare an OCR backend class: `ocr.backend = "<name>"` selects it."""

    def wrap(cls: T) -> T:
        _add(Entry("ocr", name, cls))
        return cls

    return wrap


# Where each kind of plugin lives: an OCR actor looking up its backend imports annotators/ only (0.4 s),
# not every source and filter (2.8 s and 140 MB more per actor, measured).
KIND_PACKAGES = {"ocr": ("annotators",)}
_discovered: set[str] = set()


def discover(packages: tuple[str, ...] = PLUGIN_PACKAGES) -> None:
    """Import the plugin modules of `packages` once per process (with the kernel's own and
    `$VLFORGE_PLUGINS` on the first call)."""
    if not _discovered:
        _discovered.add("")
        for name in KERNEL_MODULES:
            importlib.import_module(name)
        for name in filter(None, (m.strip() for m in os.environ.get("VLFORGE_PLUGINS", "").split(","))):
            importlib.import_module(name)
    for package in packages:
        if package in _discovered:
            continue
        _discovered.add(package)
        for path in sorted((ROOT / package).rglob("*.py")):
            if MARKER in path.read_text(encoding="utf-8") and "data" not in path.relative_to(ROOT).parts[1:-1]:
                importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


def entries(kind: str) -> list[Entry]:
    """Registered entries of one kind; stages in chain order, the others by name."""
    discover(KIND_PACKAGES.get(kind, PLUGIN_PACKAGES))
    found = [e for (k, _), e in _entries.items() if k == kind]
    return sorted(found, key=(lambda e: (e.order, e.name)) if kind == "stage" else (lambda e: e.name))


def entry(kind: str, name: str) -> Entry | None:
    discover(KIND_PACKAGES.get(kind, PLUGIN_PACKAGES))
    return _entries.get((kind, name))


def source_names() -> tuple[str, ...]:
    return tuple(e.name for e in entries("source"))


def stage_names() -> tuple[str, ...]:
    return tuple(e.name for e in entries("stage"))


def ocr_backend_names() -> tuple[str, ...]:
    return tuple(e.name for e in entries("ocr"))


def sections() -> dict[str, type]:
    """Every config section a registered class reads: {"pdf": PdfConfig, "filters.text": TextFilterConfig, ...},
    sources first, then stages in chain order."""
    out: dict[str, type] = {}
    for e in [*entries("source"), *entries("stage")]:
        if e.section and e.config is not None:
            out.setdefault(e.section, e.config)
    return out


def quality_scores() -> tuple[str, ...]:
    """The `quality` struct's fields: every registered stage's scores, in chain order."""
    return tuple(dict.fromkeys(s for e in entries("stage") for s in e.scores))


def build(e: Entry, section_config: Any) -> Any:
    """An instance of a registered class from its section's settings."""
    return e.cls(section_config) if e.config is not None else e.cls()


def unregister(kind: str, name: str) -> None:
    """Forget a registered class (a test's throwaway stage); derived views rebuild on next use."""
    _entries.pop((kind, name), None)
