"""Text filter: drop text-only samples too short to be useful language data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filters.base import Filter


@dataclass(frozen=True)
class TextFilterConfig:
    """`min_chars`: characters after whitespace normalisation below which a text sample is dropped."""

    min_chars: int = 20


class TextFilter(Filter):
    """Counts characters of the text of text-only samples; image samples are judged by their image."""

    name = "text_filter"
    version = "1"
    reads = ("text",)
    kinds = ("text",)

    def __init__(self, config: TextFilterConfig = TextFilterConfig()):
        self.config = config

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        return {"text_chars": float(len(" ".join((row.get("text") or "").split())))}

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        return "too_short" if scores["text_chars"] < self.config.min_chars else None
