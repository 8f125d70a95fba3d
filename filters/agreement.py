"""Image-text agreement: a page whose text layer and OCR disagree is a broken pair.

The OCR stage measures the character error rate of its reading against the text layer
(`quality.ocr_cer`). A born-digital page reads back at a few per cent; a high rate means the text
layer does not say what the image shows (a mis-encoded font, hidden text, a failed render), and
training on that pair would teach the model to hallucinate. Samples without both, and interleaved
documents (no single image to read), are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filters.base import Filter
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND


@dataclass(frozen=True)
class AgreementConfig:
    """`max_cer`: highest OCR-vs-text-layer error rate kept; `min_chars` of text layer to judge."""

    max_cer: float = 0.5
    min_chars: int = 50


@register_stage(order=250, section="filters.agreement", config=AgreementConfig, scores=("ocr_cer",))
class AgreementFilter(Filter):
    """Fails image samples whose OCR reading disagrees with their text layer."""

    name = "agreement"
    version = "1"
    reads = ("text", "ocr_text")

    def __init__(self, config: AgreementConfig = AgreementConfig()):
        self.config = config

    def applies(self, row: dict[str, Any]) -> bool:
        q = row.get("quality") or {}
        return (row.get("kind") not in ("text", DOCUMENT_KIND) and q.get("ocr_cer") is not None
                and len((row.get("text") or "").strip()) >= self.config.min_chars)

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        return {}  # the OCR stage already wrote ocr_cer

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        return "image_text_mismatch" if row["quality"]["ocr_cer"] > self.config.max_cer else None
