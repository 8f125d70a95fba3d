"""Image filter: drop images that are too big to decode safely, oddly shaped, blank, blurred or empty.

Every score is computed on one grey copy reduced to at most `analysis_side` pixels on its long side,
so the cost per image is flat whatever the render resolution. The size check reads only the image
header: an image bomb is refused before a single pixel is decoded.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from filters.base import Filter
from pipelines.registry import register_stage
from pipelines.stage import InputError


@dataclass(frozen=True)
class ImageFilterConfig:
    """Thresholds. Grey levels are 0-255; `blur` is the Laplacian variance over content pixels."""

    min_side: int = 32
    max_megapixels: float = 80.0  # decompression-bomb guard, checked on the header before decoding
    max_aspect: float = 10.0
    min_pixel_std: float = 2.0
    min_entropy: float = 0.01  # a blank page scores ~0; a page with one line of text ~0.02
    min_blur: float = 100.0  # measured on 144-dpi pages: sharp 12k-34k, Gaussian r=1 400-1100, r=2 20-40
    min_content_frac: float = 0.0005  # a page with a single word still passes
    analysis_side: int = 1024


@register_stage(order=220, section="filters.image", config=ImageFilterConfig, scores=(
    "megapixels",  # decoded size (the header's, read before any pixel is decoded)
    "aspect",  # long side / short side
    "pixel_std",  # grey-level standard deviation, 0 for a blank page
    "entropy",  # grey-level histogram entropy in bits (0-8)
    "blur",  # variance of the Laplacian over content areas (low = blurred)
    "content_frac",  # share of pixels that differ from the background
))
class ImageFilter(Filter):
    """Scores size, shape, grey-level spread, entropy, sharpness and content share of each image."""

    name = "image_filter"
    version = "2"
    reads = ("image", "width", "height")

    def __init__(self, config: ImageFilterConfig = ImageFilterConfig()):
        self.config = config

    def applies(self, row: dict[str, Any]) -> bool:
        return row.get("image") is not None and row["image"].get("bytes") is not None

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        if self._too_small(row.get("width"), row.get("height")):
            return {}  # never decode what is failed anyway
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(row["image"]["bytes"])) as im:
                    w, h = im.size  # from the header: nothing is decoded yet
                    scores = {"megapixels": w * h / 1e6, "aspect": max(w, h) / max(min(w, h), 1)}
                    if scores["megapixels"] > self.config.max_megapixels or self._too_small(w, h):
                        return scores
                    im.draft("L", (self.config.analysis_side, self.config.analysis_side))  # JPEG: decode reduced
                    grey = im.convert("L")
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            # Pillow's own guard fired first (above its MAX_IMAGE_PIXELS); it names the size.
            m = re.search(r"\((\d+) pixels\)", str(e))
            return {"megapixels": int(m.group(1)) / 1e6 if m else float("inf")}
        except (OSError, SyntaxError, ValueError) as e:
            raise InputError("UndecodableImage", f"the image bytes cannot be decoded: {type(e).__name__}: {e}") from e
        grey.thumbnail((self.config.analysis_side, self.config.analysis_side))
        return scores | image_scores(np.asarray(grey, dtype=np.float32))

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        c = self.config
        if self._too_small(row.get("width"), row.get("height")):
            return "too_small"
        if scores["megapixels"] > c.max_megapixels:
            return "too_many_pixels"
        checks = [
            ("aspect", scores.get("aspect", 1.0) > c.max_aspect),
            ("too_small", "pixel_std" not in scores),
            ("blank", scores.get("pixel_std", 0) < c.min_pixel_std or scores.get("entropy", 0) < c.min_entropy),
            ("no_content", scores.get("content_frac", 0) < c.min_content_frac),
            ("blurred", scores.get("blur", 0) < c.min_blur),
        ]
        return next((why for why, failed in checks if failed), None)

    def _too_small(self, w: int | None, h: int | None) -> bool:
        return w is not None and h is not None and min(w, h) < self.config.min_side


def image_scores(grey: np.ndarray) -> dict[str, float]:
    """Spread, entropy, content share and sharpness of a grey image (float32 array, 0-255)."""
    hist = np.bincount(grey.astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    background = float(np.argmax(hist))
    content = np.abs(grey - background) > 24
    # Sharpness is judged where there is something to be sharp: the Laplacian's variance over a white
    # page would fall with the share of paper, not with blur.
    lap = (4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])
    near = _dilate(content)[1:-1, 1:-1]
    return {
        "pixel_std": float(grey.std()),
        "entropy": float(-(p * np.log2(p)).sum()),
        "content_frac": float(content.mean()),
        "blur": float(lap[near].var()) if near.any() else 0.0,
    }


def _dilate(mask: np.ndarray, r: int = 2) -> np.ndarray:
    """Grow a mask by `r` pixels (so edges around content count as content's neighbourhood)."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for s in range(1, r + 1):
            grown |= np.roll(out, s, axis) | np.roll(out, -s, axis)
        out = grown
    return out
