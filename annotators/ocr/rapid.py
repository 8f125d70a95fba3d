"""RapidOCR: PP-OCR detection, direction and recognition models in ONNX, shipped inside its wheel.

The default backend: it works offline, reads English and Chinese, and needs nothing but pip. Only
the wheel's default model choice is offline; any other choice would download, so none is offered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from annotators.ocr.backend import BackendUnavailable, OcrBackend, OcrLine
from pipelines.registry import register_ocr_backend

# The recogniser's narrowest input. RapidOCR pads every batch of line crops to at least 320 px wide (48 px
# high), so a box holding one glyph or a short number costs as much as a 320-px line; 96 lets a batch of
# short boxes stay short. Measured on six real Debian manuals: the 39 raster figure crops a build kept (mostly short
# labels) are recognised 3.3x faster (3.3 -> 1.0 s), and the 29 vector figure crops, whose text layer says
# what they hold, read at CER 0.506 against 0.516 at 320. Lines 320 px wide or more, most of a page's, are
# read as before: 9 pages spread over three manuals read at CER 0.0017 with either width.
REC_MIN_WIDTH = 96


@contextmanager
def _one_parse_per_file() -> Iterator[None]:
    """While RapidOCR's modules import, parse each YAML file once: two of them (the model router and the
    inference session base) load the same 85 KB model table with OmegaConf at import time, 0.55 s of a
    1.0-1.2 s import, once per worker process. Both only read it, so they can share one parse."""
    from omegaconf import OmegaConf

    load = OmegaConf.load
    parsed: dict[str, Any] = {}

    def load_once(path: Any) -> Any:
        key = str(path)
        if key not in parsed:
            parsed[key] = load(path)
        return parsed[key]

    OmegaConf.load = load_once
    try:
        yield
    finally:
        OmegaConf.load = load


@register_ocr_backend("rapidocr")
class RapidBackend(OcrBackend):
    name = "rapidocr"
    gpu_build = "onnxruntime-gpu (in place of onnxruntime, matching the machine's CUDA)"

    def load(self) -> None:
        try:
            with _one_parse_per_file():
                from rapidocr import RapidOCR
        except ImportError as e:
            raise BackendUnavailable(f"the rapidocr backend needs the rapidocr package ({e}); "
                                     f"run scripts/setup.sh or pip install rapidocr onnxruntime") from None
        threads = self.threads
        params = {
            "Global.log_level": "error",
            "Global.text_score": self.config.min_score,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            # Detection reads the image at its own size. RapidOCR's default (limit_type "min", 736) scales
            # every image up until its short side is 736 px: a 856 x 153 figure crop became 4118 x 736 and took
            # 5.4 s. On the 73 figure and chart crops of six real manuals, no upscaling read raster crops
            # 7.5x faster (0.21 vs 1.57 s each) and found more lines (45 vs 29), and vector crops, whose
            # text layer is known, read as well (CER 0.515 vs 0.523). Rendered pages and scans, whose
            # short side is over 736 px, were never scaled, so they read exactly as before.
            "Det.limit_type": "min",
            "Det.limit_side_len": 32,
            "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
        }
        if self.gpu:
            # RapidOCR itself only warns and reads on the CPU when CUDA is missing; refuse instead.
            self._require_cuda()
            # Ray sets CUDA_VISIBLE_DEVICES to the GPU it gave this worker, so that GPU is device 0.
            params |= {"EngineConfig.onnxruntime.use_cuda": True, "EngineConfig.onnxruntime.cuda_ep_cfg.device_id": 0}
        self._engine = RapidOCR(params=params)

    def _require_cuda(self) -> None:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" not in providers or onnxruntime.get_device() != "GPU":
            raise BackendUnavailable(
                f"[resources.ocr] num_gpus > 0 asks rapidocr to read on a GPU, but this onnxruntime "
                f"({onnxruntime.__version__}, providers {', '.join(providers)}) has no CUDA; install "
                f"{self.gpu_build}, or set num_gpus = 0")

    def read(self, image: np.ndarray, upright: bool = True) -> list[OcrLine]:
        # Always pass use_cls: RapidOCR keeps a per-call setting for the calls that follow.
        out = self._engine(image, use_cls=not upright)
        if out.txts is None:
            return []
        return [OcrLine(text, float(score), tuple(float(v) for v in np.asarray(box).reshape(-1)))
                for text, score, box in zip(out.txts, out.scores, out.boxes, strict=True)]

    def version(self) -> str:
        from importlib.metadata import version

        return f"rapidocr-{version('rapidocr')}/PP-OCRv6-small"
