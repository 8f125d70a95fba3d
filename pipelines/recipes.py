"""The pipeline of a run, derived from the registry: the configured source, then every registered stage.

Every source's samples go through the same stages, in their registered order: annotate (OCR), the
quality filters, dedup, tag, instructions. A stage whose section turns it off (`ocr.backend = "none"`,
`dedup.enabled = false`), or a filter with `run.filters = false`, is left out. The run's manifest lists
the stages of its pipeline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipelines import registry
from pipelines.config import ConfigError, section
from pipelines.runner import Pipeline
from pipelines.stage import Source, Stage


def shared_stages(cfg: Any, roles: tuple[str, ...] | None = None) -> list[Stage]:
    """What every source's samples go through after the source made them: the registered stages that this
    configuration turns on, in order (only those of `roles` when given)."""
    stages = []
    for e in registry.entries("stage"):
        settings = section(cfg, e.section)
        if roles is not None and e.cls.role not in roles:
            continue
        if e.cls.role == "filter" and not cfg.run.filters:
            continue
        if settings is not None and not e.cls.enabled(settings):
            continue
        stages.append(registry.build(e, settings))
    return stages


def quality_filters(cfg: Any) -> list[Stage]:
    """The filters every source shares (none with `run.filters = false`, e.g. for raw throughput)."""
    return shared_stages(cfg, roles=("filter",))


def dedup(cfg: Any) -> list[Stage]:
    """Global dedup over everything the filters kept (none with `dedup.enabled = false` or --no-dedup)."""
    return shared_stages(cfg, roles=("global",))


def source_for(cfg: Any, name: str | None = None) -> Source:
    """The source named `name` (default `run.source`) built from its section of `cfg`."""
    name = name or cfg.run.source
    e = registry.entry("source", name)
    if e is None:
        raise ConfigError(f"source '{name}' is not available (available: {', '.join(registry.source_names())})",
                          "run.source")
    return e.cls.from_config(section(cfg, e.section), cfg)


def build_pipeline(cfg: Any) -> Pipeline:
    """The pipeline of a validated config: its source, then the shared stages, with [resources.*] applied."""
    cfg.validate()
    try:
        pipeline = Pipeline(source=source_for(cfg), stages=shared_stages(cfg))
    except ConfigError:
        raise
    except ValueError as e:  # a source or stage refusing its settings
        raise ConfigError(str(e)) from None
    return with_resources(pipeline, cfg)


def with_resources(pipeline: Pipeline, cfg: Any) -> Pipeline:
    """Apply [resources.<stage>] (or [resources.source]) to the pipeline's stages; a stage this run leaves
    out (OCR with --ocr none) is skipped. (Unknown names were refused by `Config.validate()`.)"""
    targets: dict[str, Stage | Source] = {"source": pipeline.source, **{s.name: s for s in pipeline.stages}}
    for name, res in cfg.resources.items():
        target = targets.get(name)
        if target is None:
            continue
        changes = {k: v for k, v in dataclasses.asdict(res).items() if v is not None}
        target.resources = dataclasses.replace(target.resources, **changes)
    return pipeline
