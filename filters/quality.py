"""Learned text quality: a fastText classifier scores how much a text reads like well-formed prose.

DCLM and DeepSeek filter text with a fastText classifier trained on good against bad examples. Ours
is trained by `python -m filters.train_quality` on data the project ships (`filters/data/quality`);
the first run trains it (seconds) when the model file is missing or stale. The model is loaded on
the driver before the run and travels to the workers inside the stage, so a cluster's nodes need no
copy of the file. Interleaved documents are scored on their text without `<image>` markers; only a
document left with no image (a text document) can fail, the others keep their score for audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filters.base import Filter
from filters.quality_model import DEFAULT_MODEL_PATH, QualityModel, load_or_train
from filters.text import is_text_like, judged_text
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND
from pipelines.stage import ShipsModel, configured_model


@dataclass(frozen=True)
class QualityConfig:
    """`min_prob`: lowest probability of 'good' kept; `model`: model file ('' = the project's own)."""

    min_prob: float = 0.2
    model: str = ""


@register_stage(order=260, section="filters.quality", config=QualityConfig, scores=(
    "quality_prob",  # fastText text-quality classifier: probability the text is well-formed prose
))
class QualityFilter(ShipsModel, Filter):
    """Scores text samples with the quality classifier and fails those it finds unlikely to be prose."""

    name = "quality_filter"
    version = "1"
    reads = ("text",)
    kinds = ("text", DOCUMENT_KIND)

    def __init__(self, config: QualityConfig = QualityConfig()):
        self.config = config

    def driver_model(self) -> QualityModel:
        return configured_model(self.config.model, DEFAULT_MODEL_PATH, QualityModel.load, load_or_train,
                                "quality model", "python -m filters.train_quality")

    def model_from_bytes(self, data: bytes) -> QualityModel:
        return QualityModel.from_bytes(data)

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        probs = self._model.score([judged_text(r) for r in rows]) if rows else []
        return [{"quality_prob": p} for p in probs]

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        return "low_quality" if is_text_like(row) and scores["quality_prob"] < self.config.min_prob else None
