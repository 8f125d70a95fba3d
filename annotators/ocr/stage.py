"""The OCR stage: every image-bearing sample gets its text lines, boxes and confidence.

`ocr.policy` says where OCR runs. auto (the default): a sample that arrives with exact lines (a PDF
page's text layer, `meta.ocr_source = "text_layer"`; a web screenshot's DOM lines, "dom") keeps them and
is not read; everything else with an image is (scans, pages whose layer failed its check or its
document's audit, screenshots whose DOM lines failed theirs, raster figures, dataset images), in the
chain of task stages. all: every image is read, by a pool of
actors. Fills `ocr` (lines in reading order), `ocr_text` (the lines joined), `quality.ocr_conf` (mean
line confidence; 0 when nothing was read) and `quality.ocr_cer` (OCR against the text layer, or the
audit's). A PDF page whose text layer is missing or unusable takes its `text` from OCR, flagged in
`meta.text_source`.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
from PIL import Image

from annotators.ocr.backend import OcrBackend, OcrConfig, OcrLine, make_backend, reading_order
from annotators.ocr.cer import cer, normalise
from pipelines.registry import register_stage
from pipelines.schema import TRANSCRIBED_KINDS, meta_json, quality_scores, set_columns
from pipelines.stage import Resources, Stage

GOOD_READING = 0.75  # mean line confidence of an upright scan reading, below which upside down is tried
LOW_INK_MORE_TEXT = 1.5  # OCR must read this many times the layer's text to replace it


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
    # 4: rapidocr's recogniser pads short boxes to 96 px, not 320; 3: rapidocr reads images at their own size;
    # 2: policies (auto reads text layers' lines instead of OCR), upright pages without cls
    version = "4"
    reads = ("image", "kind", "text", "ocr", "ocr_text", "meta", "quality")
    writes = ("ocr", "ocr_text", "quality", "text", "meta")

    # Policy all, one page per task: with two tasks queued per actor every actor stays busy to the end
    # (rapidocr on 12 pages, 2 actors: 0.37 pages/s at 1 vs 0.24-0.32 at 4; a 4-page task is ~9 s, so the
    # run's tail waited on one actor). [resources.ocr] changes it, and num_cpus is the backend's threads.
    resources = Resources(num_cpus=1, actor=True, batch_size=1)
    # Policy auto: most rows already carry exact lines and pass straight through, so OCR runs inside the
    # chain of task stages (no hop to an actor, no CPUs held by idle actors); the model still loads once
    # per worker process.
    AUTO_RESOURCES = Resources(num_cpus=1, actor=False, batch_size=64)

    def __init__(self, config: OcrConfig | None = None):
        self.config = config or OcrConfig()
        self.backend: OcrBackend | None = None
        self._loaded = False
        if self.config.policy == "auto":
            self.resources = self.AUTO_RESOURCES

    @classmethod
    def enabled(cls, settings: OcrConfig) -> bool:
        return settings.runs

    def _make_backend(self, gpu: bool | None = None) -> OcrBackend:
        gpu = self.resources.num_gpus > 0 if gpu is None else gpu
        return make_backend(self.config, threads=max(1, int(self.resources.num_cpus)), gpu=gpu)

    def setup(self) -> None:
        """Make the backend; under policy auto its model loads when the first row needs reading (~3 s of
        CPU per worker process for rapidocr), so a worker whose rows all carry text layers never loads it.
        The driver's preflight has already checked that it loads."""
        self.backend = self._make_backend()
        self._loaded = False
        if self.config.policy != "auto":
            self.loaded()

    def loaded(self) -> OcrBackend:
        """The backend, its model loaded (once)."""
        if not self._loaded:
            self.backend.load()
            self._loaded = True
        return self.backend

    def preflight(self) -> None:
        """Load the model once on the driver, so a missing model stops the run before any work. On the CPU:
        the driver may have no GPU (a cluster's head); a worker given a GPU checks its GPU build in setup.
        A backend with no GPU build at all is refused here, by its constructor."""
        self._make_backend(gpu=self.resources.num_gpus > 0)
        self._make_backend(gpu=False).load()

    def read(self, data: bytes, upright: bool = True) -> list[OcrLine]:
        """The lines of an encoded image in reading order. `upright`: the image is a render (a PDF page, a
        crop, a screenshot); otherwise (a scan) it may lie sideways or upside down, and its orientation is
        found once for the page (`read_any_orientation`), never by the backend's per-line classifier."""
        image = decode_rgb(data)
        self.loaded()
        if upright:
            return reading_order(self.backend.read(image, upright=True))
        return self.read_any_orientation(image)

    def read_any_orientation(self, image: np.ndarray) -> list[OcrLine]:
        """Read a scan as it lies; if its lines stand on end (most boxes taller than wide) also turned 90
        and 270 degrees, and if it reads poorly also turned 180; keep the reading with the most confidently
        read text, in reading order, its boxes mapped back onto the image as given.

        RapidOCR's direction classifier decides per line and turned good upright lines upside down on
        real scans (a first line 'Harbour water rose in July' read as 'Har r sd p sr r rrht')."""
        best, turns = self.backend.read(image, upright=True), 0
        sideways = sum(_tall(line.box) for line in best) > len(best) / 2
        poor = not best or np.mean([line.score for line in best]) < GOOD_READING
        for k in (1, 3) if sideways else (2,) if poor else ():
            lines = self.backend.read(np.ascontiguousarray(np.rot90(image, k)), upright=True)
            if _weight(lines) > _weight(best):
                best, turns = lines, k
        height, width = image.shape[:2]  # ordered as read on the turned image, then placed on the given one
        return [OcrLine(line.text, line.score, _unturn(line.box, turns, width, height)) for line in reading_order(best)]

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.select(list(self.reads)).to_pylist()
        ocr, ocr_text, quality, text, meta = [], [], [], [], []
        names = quality_scores()
        for row in rows:
            image = row["image"]
            q = dict(row["quality"] or dict.fromkeys(names))
            m = json.loads(row["meta"]) if row["meta"] else {}
            if image is None or image.get("bytes") is None or (self.config.policy == "auto" and row["ocr"] is not None):
                # Nothing to read, or exact lines already (a text layer): keep them; an audited page brings
                # its audit's reading score.
                if "ocr_audit" in m:
                    q["ocr_cer"] = m["ocr_audit"]["cer"]
                ocr.append(row["ocr"])
                ocr_text.append(row["ocr_text"])
                quality.append(q if "ocr_audit" in m else row["quality"])
                text.append(row["text"])
                meta.append(row["meta"])
                continue
            lines = self.read(image["bytes"], upright=m.get("ocr_needed") != "no_text_layer")
            joined = join_lines(lines)
            q["ocr_conf"] = float(np.mean([line.score for line in lines])) if lines else 0.0
            m["ocr"], m["ocr_source"] = self.backend.version(), "ocr"
            own = row["text"] or ""
            if row["kind"] == "page" and joined and _layer_unusable(own, joined, m.get("ocr_needed")):
                text.append(joined)  # a scan, a garbled layer, a layer missing most of the page: OCR is the text
                m["text_source"] = "ocr"
            else:
                text.append(row["text"])
                # Image-text agreement, a signal for the filters: only where `text` transcribes the image
                # (a page's text layer), not where it describes it (a figure's caption).
                if row["kind"] in TRANSCRIBED_KINDS and own.strip():
                    q["ocr_cer"] = cer(own, joined)
            ocr.append([line.as_row() for line in lines])
            ocr_text.append(joined)
            quality.append(q)
            meta.append(meta_json(m))
        return set_columns(batch, ocr=ocr, ocr_text=ocr_text, quality=quality, text=text, meta=meta)


def _weight(lines: list[OcrLine]) -> float:
    """How much text a reading found, weighted by confidence: the better orientation reads more, surer."""
    return sum(len(line.text) * line.score for line in lines)


def _tall(box: tuple[float, ...]) -> bool:
    """A line box taller than wide with room for a few characters: text running down the image."""
    xs, ys = box[0::2], box[1::2]
    return max(ys) - min(ys) > 2 * (max(xs) - min(xs))


def _unturn(box: tuple[float, ...], turns: int, width: int, height: int) -> tuple[float, ...]:
    """A box read on `np.rot90(image, turns)` as coordinates of the image itself (`width` x `height`)."""
    out = []
    for x, y in zip(box[0::2], box[1::2], strict=True):
        if turns == 1:  # rot90 once: the turned image's (x, y) is the original's (width - y, x)
            x, y = width - y, x
        elif turns == 2:
            x, y = width - x, height - y
        elif turns == 3:
            x, y = y, height - x
        out += [x, y]
    return tuple(out)


def _layer_unusable(layer: str, ocr_text: str, need: str | None) -> bool:
    """Whether a page's text should be its OCR reading rather than its text layer: there is no layer, it
    is garbled, or it covers little of the page's ink and OCR found much more text (outlined text, a
    partial scan)."""
    if not layer.strip() or need == "garbled":
        return True
    return need == "low_text_ink" and len(normalise(ocr_text)) > LOW_INK_MORE_TEXT * len(normalise(layer))
