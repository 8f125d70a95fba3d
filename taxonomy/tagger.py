"""The tagger stage: which use cases of the taxonomy each sample can serve, most likely first.

Two sources of evidence. What the sample *is* (its kind and which columns it carries) decides the
use cases its own ground truth supports: a page with a text layer can teach transcription, a
screenshot with HTML or a chart with its code or table can teach image-to-code, a chart with its
table can teach chart analysis, a figure with a caption can teach description. These tags score
1.0: they are facts about the sample. Then the request classifier (taxonomy.classifier, trained on
real-user style requests) reads the sample's text, caption or OCR text and proposes what users
would ask about such content (a page of equations: mathematics; a map: professional charts). Its
scores are calibrated probabilities on requests; on document text they are a weaker signal, so a
threshold (`min_score`) drops weak tags.

A text sample has no image, so the classifier's image use cases do not apply to it: it proposed
`analysis.data_chart` for plain documentation prose ("Return the hour, as an int from 0 through
23") because its training requests about charts are full of numbers and ranges. Text samples keep
only the proposals a text can serve: no transcription, description, grounding or image-to-code or
-text, and chart analysis only when the text holds a table of numbers (`holds_table`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.documents import plain_text
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND, TRANSCRIBED_KINDS, set_columns
from pipelines.stage import Resources, ShipsModel, Stage, configured_model
from taxonomy.classifier import DEFAULT_MODEL_PATH, RequestClassifier, load_or_train


def has_image(row: dict[str, Any]) -> bool:
    return bool((row.get("image") or {}).get("bytes"))


def _text(row: dict[str, Any]) -> str:
    """The sample's text; an interleaved document's without its `<image>` markers (its use cases come
    from the classifier reading that text alone: no ground-truth rule applies to it)."""
    text = row.get("text") or ""
    return (plain_text(text) if row.get("kind") == DOCUMENT_KIND else text).strip()


# Use cases of the image itself, never proposed for a sample without one; charts: unless it holds a table.
NEEDS_IMAGE = ("recognition.", "conversion.image_to_", "analysis.professional_image", "multi_image_analysis.")
CHART_TAGS = ("analysis.data_chart", "analysis.professional_chart")
_CELL_SPLIT = re.compile(r"\s*[,;\t|]\s*|\s{2,}")
_NUMBER = re.compile(r"[-+(]?[$€£¥]?\d[\d,.]*%?\)?")


def holds_table(text: str, min_rows: int = 3) -> bool:
    """Whether a text carries chart data: `min_rows` lines or more that split into the same number (3 or
    more) of cells, at least half of them numbers (CSV, TSV, a Markdown or space-aligned table)."""
    widths: dict[int, int] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|")) if c.strip()]
        if len(cells) >= 3 and sum(bool(_NUMBER.fullmatch(c)) for c in cells) * 2 >= len(cells):
            widths[len(cells)] = widths.get(len(cells), 0) + 1
    return max(widths.values(), default=0) >= min_rows


def text_can_serve(row: dict[str, Any], sub: str) -> bool:
    """Whether a proposed use case fits a sample: any for one with an image (or a document, whose images
    are in `images`); for a text sample, none of the image's own, and charts only over table data."""
    if has_image(row) or row.get("kind") == DOCUMENT_KIND:
        return True
    if sub.startswith(NEEDS_IMAGE):
        return False
    return sub not in CHART_TAGS or bool(row.get("table")) or holds_table(_text(row))


# (subcategory id, does the sample's own ground truth support it?) - in the order tags are listed.
RULES: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("recognition.ocr_transcription",
     lambda r: has_image(r) and r.get("kind") in TRANSCRIBED_KINDS and len(_text(r)) >= 20),
    ("conversion.image_to_code", lambda r: has_image(r) and bool(r.get("html") or r.get("code") or r.get("table"))),
    ("analysis.data_chart", lambda r: has_image(r) and (r.get("kind") == "chart" or bool(r.get("table")))),
    ("recognition.global_description", lambda r: has_image(r) and r.get("kind") in ("figure", "chart")
     and len(_text(r)) >= 10),
)


@dataclass(frozen=True)
class TaggerConfig:
    """`min_score`: lowest classifier probability kept as a tag; `max_tags`: tags per sample at most
    (ground-truth tags always stay); `classify`: use the request classifier at all; `model`: its file
    ('' = the project's own, trained on first use from taxonomy/data)."""

    min_score: float = 0.3
    max_tags: int = 3
    classify: bool = True
    model: str = ""


@register_stage(order=500, section="tagger", config=TaggerConfig)
class Tagger(ShipsModel, Stage):
    """Writes `tags` (subcategory ids) and `tag_scores` for every sample."""

    name = "tagger"
    version = "2"  # 2: text samples get no image use cases, and chart tags only over table data
    reads = ("kind", "image", "text", "ocr_text", "html", "code", "table", "keep")
    writes = ("tags", "tag_scores")
    resources = Resources(batch_size=512)

    def __init__(self, config: TaggerConfig | None = None):
        self.config = config or TaggerConfig()

    def driver_model(self) -> RequestClassifier | None:
        if not self.config.classify:
            return None
        return configured_model(self.config.model, DEFAULT_MODEL_PATH, RequestClassifier.load, load_or_train,
                                "request classifier", "python -m taxonomy.train")

    def model_from_bytes(self, data: bytes) -> RequestClassifier:
        return RequestClassifier.from_bytes(data)

    def process(self, batch):
        rows = batch.select(list(self.reads)).to_pylist()
        content = [(_text(r) or (r.get("ocr_text") or "").strip())[:2000] for r in rows]
        judged = [i for i, c in enumerate(content) if len(c) >= 20 and rows[i].get("keep") is not False]
        proposals = dict(zip(judged, self._model.predict([content[i] for i in judged], k=self.config.max_tags),
                             strict=True)) if self.config.classify and judged else {}
        tags, scores = [], []
        for i, row in enumerate(rows):
            t, s = self.tag(row, proposals.get(i, []))
            tags.append(t)
            scores.append(s)
        return set_columns(batch, tags=tags, tag_scores=scores)

    def tag(self, row: dict[str, Any], proposed: list[tuple[str, float]]) -> tuple[list[str], list[float]]:
        """Ground-truth tags (score 1.0) first, then the classifier's proposals above `min_score`."""
        facts = [sub for sub, supported in RULES if supported(row)]
        extra = [(sub, p) for sub, p in proposed
                 if p >= self.config.min_score and sub not in facts and text_can_serve(row, sub)]
        room = max(0, self.config.max_tags - len(facts))
        chosen = [(sub, 1.0) for sub in facts] + extra[:room]
        return [sub for sub, _ in chosen], [round(p, 4) for _, p in chosen]
