"""The pipelines, one short recipe per source: read a recipe and you know the whole job.

This module (with `config`) is the composition root: the only place in `pipelines/` that names
concrete sources and stages. The runner sees them only through the stage protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from annotators.ocr.stage import OcrStage
from filters.agreement import AgreementFilter
from filters.dedup.stage import Dedup
from filters.image import ImageFilter
from filters.lang import LangFilter
from filters.pii import PiiScrubber
from filters.quality import QualityFilter
from filters.text import TextFilter
from pipelines.config import Config, ConfigError
from pipelines.mix import MixSource, Part
from pipelines.runner import Pipeline
from pipelines.stage import Stage
from sources.chart.source import ChartSource
from sources.dataset.source import DatasetSource
from sources.pdf import PdfSource
from sources.web.source import WebSource
from taxonomy.instructions import InstructionBuilder
from taxonomy.tagger import Tagger


def quality_filters(cfg: Config) -> list[Stage]:
    """The filters every source shares (off with `run.filters = false`, e.g. for raw throughput)."""
    if not cfg.run.filters:
        return []
    f = cfg.filters
    return [PiiScrubber(f.pii), ImageFilter(f.image), LangFilter(f.lang), TextFilter(f.text),
            AgreementFilter(f.agreement), QualityFilter(f.quality)]


def dedup(cfg: Config) -> list[Stage]:
    """Global dedup over everything the filters kept (off with `dedup.enabled = false` or --no-dedup)."""
    return [Dedup(cfg.dedup)] if cfg.dedup.enabled else []


def annotators(cfg: Config) -> list[Stage]:
    """Stages that read images and add columns: OCR (off with `--ocr none`)."""
    return [] if cfg.ocr.backend == "none" else [OcrStage(cfg.ocr)]


def use_cases(cfg: Config) -> list[Stage]:
    """Tag every sample with the taxonomy's use cases, then build instruction turns from its ground truth."""
    stages: list[Stage] = [Tagger(cfg.tagger)]
    if cfg.instructions.enabled:
        stages.append(InstructionBuilder(cfg.instructions))
    return stages


def shared_stages(cfg: Config) -> list[Stage]:
    """What every source's samples go through after the source made them: annotate, filter, dedup, tag."""
    return [
        *annotators(cfg),
        *quality_filters(cfg),
        *dedup(cfg),
        *use_cases(cfg),
    ]


def pdf(cfg: Config) -> Pipeline:
    return Pipeline(
        source=PdfSource(cfg.pdf),
        stages=shared_stages(cfg),
    )


def chart(cfg: Config) -> Pipeline:
    return Pipeline(
        source=ChartSource(cfg.chart),
        stages=shared_stages(cfg),
    )


def web(cfg: Config) -> Pipeline:
    return Pipeline(
        source=WebSource(cfg.web),
        stages=shared_stages(cfg),
    )


def dataset(cfg: Config) -> Pipeline:
    if not cfg.run.inputs:
        raise ConfigError("--source dataset needs --input PATH (Parquet, JSON Lines, JSON or a save_to_disk folder)")
    return Pipeline(
        source=DatasetSource(cfg.dataset),
        stages=shared_stages(cfg),
    )


def mix(cfg: Config) -> Pipeline:
    """Every [[mix.sources]] entry's source (built by its own recipe) into one dataset, through shared stages."""
    return Pipeline(
        source=MixSource(mix_parts(cfg)),
        stages=shared_stages(cfg),
    )


RECIPES: dict[str, Callable[[Config], Pipeline]] = {"pdf": pdf, "chart": chart, "web": web, "dataset": dataset,
                                                    "mix": mix}


def build_pipeline(cfg: Config) -> Pipeline:
    """The pipeline for the configured source, or a clear error for one not built yet."""
    recipe = RECIPES.get(cfg.run.source)
    if recipe is None:
        raise ConfigError(f"source '{cfg.run.source}' is not available yet (available: {', '.join(RECIPES)})")
    return with_resources(recipe(cfg), cfg)


def mix_parts(cfg: Config) -> list[Part]:
    """The parts of a mix, each checked before any work (the error names the entry's key)."""
    if cfg.run.inputs:
        raise ConfigError("--input does not apply to a mix: give each [[mix.sources]] entry its own inputs")
    if not cfg.mix.sources:
        raise ConfigError("run.source = 'mix' needs [[mix.sources]] entries (source, inputs, weight)")
    parts = []
    for i, entry in enumerate(cfg.mix.sources):
        key = f"mix.sources[{i}]"
        if entry.source not in RECIPES or entry.source == "mix":
            raise ConfigError(f"{key}.source: unknown source {entry.source!r} "
                              f"(available: {', '.join(s for s in RECIPES if s != 'mix')})")
        if not entry.weight > 0:
            raise ConfigError(f"{key}.weight must be above 0, got {entry.weight}")
        if entry.limit is not None and entry.limit < 1:
            raise ConfigError(f"{key}.limit must be at least 1, got {entry.limit}")
        for raw in entry.inputs:
            if not Path(raw).exists():
                raise ConfigError(f"{key}.inputs: {raw} does not exist")
        sub = cfg.replace("run", source=entry.source, inputs=entry.inputs)
        if entry.dataset is not None:
            sub = dataclasses.replace(sub, dataset=entry.dataset)
        try:
            source = RECIPES[entry.source](sub).source
        except (ConfigError, ValueError) as e:
            raise ConfigError(f"{key}: {e}") from None
        name = sub.dataset.name if entry.source == "dataset" else entry.source
        parts.append(Part(name, source, entry.inputs, entry.weight, entry.limit))
    try:
        MixSource(parts)
    except ValueError as e:
        raise ConfigError(f"mix.sources: {e}") from None
    return parts


STAGE_NAMES = ("source", *(s.name for s in (OcrStage, PiiScrubber, ImageFilter, LangFilter, TextFilter,
                                              AgreementFilter, QualityFilter, Dedup, Tagger, InstructionBuilder)))


def with_resources(pipeline: Pipeline, cfg: Config) -> Pipeline:
    """Apply [resources.<stage>] (or [resources.source]) to the pipeline's stages. A name that is no
    stage at all is an error naming the key; a stage this run leaves out (OCR with --ocr none) is skipped."""
    targets = {"source": pipeline.source, **{s.name: s for s in pipeline.stages}}
    for name, res in cfg.resources.items():
        if name not in targets and name not in STAGE_NAMES:
            raise ConfigError(f"unknown config key 'resources.{name}' (stages: {', '.join(STAGE_NAMES)})")
        changes = {k: v for k, v in dataclasses.asdict(res).items() if v is not None}
        bad = [k for k in ("num_cpus", "num_gpus") if k in changes and changes[k] < 0]
        bad += [k for k in ("concurrency", "batch_size") if k in changes and changes[k] < 1]
        if bad:
            raise ConfigError(f"resources.{name}.{bad[0]} must be positive, got {changes[bad[0]]}")
        target = targets.get(name)
        if target is None:
            continue
        target.resources = dataclasses.replace(target.resources, **changes)
    return pipeline
