"""PaddleOCR, for users who have its models on disk.

PaddleOCR fetches models from a hub by default; here it must never try. The backend checks the
local model folders first (`ocr.model_dir`, or PaddleOCR's own cache under ~/.paddlex) and stops
with a message naming what is missing, before PaddleOCR is even imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotators.ocr.backend import BackendUnavailable, OcrBackend, OcrLine
from pipelines.registry import register_ocr_backend

MODELS = {"det": "PP-OCRv5_server_det", "rec": "PP-OCRv5_server_rec"}
CACHE = Path.home() / ".paddlex" / "official_models"


def model_dirs(model_dir: str) -> dict[str, Path]:
    """Where each model must be: `model_dir/<name>` if given, else PaddleOCR's cache."""
    root = Path(model_dir).expanduser() if model_dir else CACHE
    return {role: root / name for role, name in MODELS.items()}


@register_ocr_backend("paddleocr")
class PaddleBackend(OcrBackend):
    name = "paddleocr"

    def load(self) -> None:
        dirs = model_dirs(self.config.model_dir)
        missing = [f"{role} model {path}" for role, path in dirs.items()
                   if not (path / "inference.yml").exists()]
        if missing:
            raise BackendUnavailable(
                "PaddleOCR models not found: " + "; ".join(missing) + ". Put the exported PP-OCR models there "
                "(folders with inference.yml and the weights) or pass --ocr-model-dir; vlforge never downloads "
                "them. Or use --ocr rapidocr, whose models ship in its wheel.")
        try:
            from paddleocr import PaddleOCR
        except ImportError as e:
            raise BackendUnavailable(f"the paddleocr backend needs paddleocr and paddlepaddle ({e}); "
                                     "pip install paddleocr paddlepaddle") from None
        self._engine = PaddleOCR(
            text_detection_model_name=MODELS["det"], text_detection_model_dir=str(dirs["det"]),
            text_recognition_model_name=MODELS["rec"], text_recognition_model_dir=str(dirs["rec"]),
            use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False,
            cpu_threads=self.threads)

    def read(self, image: np.ndarray) -> list[OcrLine]:
        lines = []
        for result in self._engine.predict(image[:, :, ::-1]):  # PaddleOCR expects BGR
            for text, score, poly in zip(result["rec_texts"], result["rec_scores"], result["rec_polys"], strict=True):
                if score >= self.config.min_score:
                    lines.append(OcrLine(text, float(score), tuple(float(v) for v in np.asarray(poly).reshape(-1))))
        return lines
