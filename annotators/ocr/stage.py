"""The OCR stage: every image-bearing sample gets its text lines, boxes and confidence.

Runs as an actor pool, so each worker loads its model once. Fills `ocr` (lines in reading order),
`ocr_text` (the lines joined), `quality.ocr_conf` (mean line confidence; 0 when nothing was read).
A PDF page with no text layer (a scan) takes its `text` from OCR, flagged in `meta.text_source`.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
from PIL import Image

from annotators.ocr.backend import OcrBackend, OcrConfig, OcrLine, make_backend, reading_order
from annotators.ocr.cer import cer
from pipelines.registry import register_stage
from pipelines.schema import TRANSCRIBED_KINDS, meta_json, quality_scores, set_columns
from pipelines.stage import Resources, Stage


def decode_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def join_lines(lines: list[OcrLine]) -> str:
    return "\n".join(line.text for line in lines)


@register_stage(order=100, section="ocr", config=OcrConfig, scores=(
    "ocr_conf",  # mean line confidence
    "ocr_cer",  # character error rate of OCR against the text layer (high = image-text mismatch)
))
class OcrStage(Stage):
    """Reads the text in every sample that has an image."""

    name = "ocr"
    version = "1"
    reads = ("image", "kind", "text", "meta", "quality")
    writes = ("ocr", "ocr_text", "quality", "text", "meta")

    # One page per task by default: with two tasks queued per actor every actor stays busy to the end
    # (rapidocr on 12 pages, 2 actors: 0.37 pages/s at 1 vs 0.24-0.32 at 4; a 4-page task is ~9 s, so the
    # run's tail waited on one actor). [resources.ocr] changes it, and num_cpus is the backend's threads.
    resources = Resources(num_cpus=1, actor=True, batch_size=1)

    def __init__(self, config: OcrConfig | None = None):
        self.config = config or OcrConfig()
        self.backend: OcrBackend | None = None

    @classmethod
    def enabled(cls, settings: OcrConfig) -> bool:
        return settings.backend != "none"

    def _make_backend(self) -> OcrBackend:
        return make_backend(self.config, threads=max(1, int(self.resources.num_cpus)))

    def setup(self) -> None:
        self.backend = self._make_backend()
        self.backend.load()

    def preflight(self) -> None:
        """Load the model once on the driver, so a missing model stops the run before any work."""
        self._make_backend().load()

    def read(self, data: bytes) -> list[OcrLine]:
        return reading_order(self.backend.read(decode_rgb(data)))

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.select(list(self.reads)).to_pylist()
        ocr, ocr_text, quality, text, meta = [], [], [], [], []
        names = quality_scores()
        for row in rows:
            image = row["image"]
            q = dict(row["quality"] or dict.fromkeys(names))
            if image is None or image.get("bytes") is None:
                ocr.append(None)
                ocr_text.append(None)
                quality.append(row["quality"])
                text.append(row["text"])
                meta.append(row["meta"])
                continue
            lines = self.read(image["bytes"])
            joined = join_lines(lines)
            q["ocr_conf"] = float(np.mean([line.score for line in lines])) if lines else 0.0
            m = json.loads(row["meta"]) if row["meta"] else {}
            m["ocr"] = self.backend.version()
            if row["kind"] == "page" and not (row["text"] or "").strip() and joined:
                text.append(joined)  # a scan: OCR is the only text there is
                m["text_source"] = "ocr"
            else:
                text.append(row["text"])
                # Image-text agreement, a signal for the filters: only where `text` transcribes the image
                # (a page's text layer), not where it describes it (a figure's caption).
                if row["kind"] in TRANSCRIBED_KINDS and (row["text"] or "").strip():
                    q["ocr_cer"] = cer(row["text"], joined)
            ocr.append([line.as_row() for line in lines])
            ocr_text.append(joined)
            quality.append(q)
            meta.append(meta_json(m))
        return set_columns(batch, ocr=ocr, ocr_text=ocr_text, quality=quality, text=text, meta=meta)
