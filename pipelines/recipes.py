"""The pipelines, one short recipe per source: read a recipe and you know the whole job.

This module (with `config`) is the composition root: the only place in `pipelines/` that names
concrete sources and stages. The runner sees them only through the stage protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from annotators.ocr.stage import OcrStage
from filters.agreement import AgreementFilter
from filters.dedup.stage import Dedup
from filters.image import ImageFilter
from filters.lang import LangFilter
from filters.pii import PiiScrubber
from filters.quality import QualityFilter
from filters.text import TextFilter
from pipelines.config import Config, ConfigError
from pipelines.runner import Pipeline
from pipelines.stage import Stage
from sources.chart.source import ChartSource
from sources.dataset.source import DatasetSource
from sources.pdf import PdfSource
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


def pdf(cfg: Config) -> Pipeline:
    return Pipeline(
        source=PdfSource(cfg.pdf),
        stages=[
            *annotators(cfg),
            *quality_filters(cfg),
            *dedup(cfg),
            *use_cases(cfg),
        ],
    )


def chart(cfg: Config) -> Pipeline:
    return Pipeline(
        source=ChartSource(cfg.chart),
        stages=[
            *annotators(cfg),
            *quality_filters(cfg),
            *dedup(cfg),
            *use_cases(cfg),
        ],
    )


def dataset(cfg: Config) -> Pipeline:
    if not cfg.run.inputs:
        raise ConfigError("--source dataset needs --input PATH (Parquet, JSON Lines, JSON or a save_to_disk folder)")
    return Pipeline(
        source=DatasetSource(cfg.dataset),
        stages=[
            *annotators(cfg),
            *quality_filters(cfg),
            *dedup(cfg),
            *use_cases(cfg),
        ],
    )


RECIPES: dict[str, Callable[[Config], Pipeline]] = {"pdf": pdf, "chart": chart, "dataset": dataset}


def build_pipeline(cfg: Config) -> Pipeline:
    """The pipeline for the configured source, or a clear error for one not built yet."""
    recipe = RECIPES.get(cfg.run.source)
    if recipe is None:
        raise ConfigError(f"source '{cfg.run.source}' is not available yet (available: {', '.join(RECIPES)})")
    return recipe(cfg)
