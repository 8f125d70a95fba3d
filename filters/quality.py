"""Learned text quality: a fastText classifier scores how much a text reads like well-formed prose.

DCLM and DeepSeek filter text with a fastText classifier trained on good against bad examples. Ours
is trained by `python -m filters.train_quality` on data the project ships (`filters/data/quality`);
the first run trains it (seconds) when the model file is missing or stale. The model is loaded on
the driver before the run and travels to the workers inside the stage, so a cluster's nodes need no
copy of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filters.base import Filter
from filters.quality_model import DEFAULT_MODEL_PATH, QualityModel, load_or_train


@dataclass(frozen=True)
class QualityConfig:
    """`min_prob`: lowest probability of 'good' kept; `model`: model file ('' = the project's own)."""

    min_prob: float = 0.2
    model: str = ""


class QualityFilter(Filter):
    """Scores text samples with the quality classifier and fails those it finds unlikely to be prose."""

    name = "quality_filter"
    version = "1"
    reads = ("text",)
    kinds = ("text",)

    def __init__(self, config: QualityConfig = QualityConfig()):
        self.config = config
        self._model_bytes: bytes | None = None
        self._model: QualityModel | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}  # a loaded fastText model does not pickle; workers load their own

    def preflight(self) -> None:
        path = Path(self.config.model) if self.config.model else DEFAULT_MODEL_PATH
        if self.config.model and not path.is_file():
            from pipelines.stage import StageUnavailable

            raise StageUnavailable(f"quality model {path} does not exist (train one: python -m filters.train_quality)")
        model = QualityModel.load(path) if self.config.model else load_or_train(path)
        self._model_bytes = model.to_bytes()

    def setup(self) -> None:
        if self._model_bytes is None:
            self.preflight()
        self._model = QualityModel.from_bytes(self._model_bytes)

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        if self._model is None:
            self.setup()
        probs = self._model.score([r.get("text") or "" for r in rows]) if rows else []
        return [{"quality_prob": p} for p in probs]

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        return "low_quality" if scores["quality_prob"] < self.config.min_prob else None
