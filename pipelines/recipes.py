"""The pipelines, one short recipe per source: read a recipe and you know the whole job.

This module (with `config`) is the composition root: the only place in `pipelines/` that names
concrete sources and stages. The runner sees them only through the stage protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from annotators.ocr.stage import OcrStage
from filters.image import ImageFilter
from filters.text import TextFilter
from pipelines.config import Config, ConfigError
from pipelines.runner import Pipeline
from pipelines.stage import Stage
from sources.pdf import PdfSource


def quality_filters(cfg: Config) -> list[Stage]:
    """The filters every source shares (off with `run.filters = false`, e.g. for raw throughput)."""
    if not cfg.run.filters:
        return []
    return [ImageFilter(cfg.filters.image), TextFilter(cfg.filters.text)]


def annotators(cfg: Config) -> list[Stage]:
    """Stages that read images and add columns: OCR (off with `--ocr none`)."""
    return [] if cfg.ocr.backend == "none" else [OcrStage(cfg.ocr)]


def pdf(cfg: Config) -> Pipeline:
    return Pipeline(
        source=PdfSource(cfg.pdf),
        stages=[
            *annotators(cfg),
            *quality_filters(cfg),
        ],
    )


RECIPES: dict[str, Callable[[Config], Pipeline]] = {"pdf": pdf}


def build_pipeline(cfg: Config) -> Pipeline:
    """The pipeline for the configured source, or a clear error for one not built yet."""
    recipe = RECIPES.get(cfg.run.source)
    if recipe is None:
        raise ConfigError(f"source '{cfg.run.source}' is not available yet (available: {', '.join(RECIPES)})")
    return recipe(cfg)
