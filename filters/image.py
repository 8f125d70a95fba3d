"""Image filter: drop images that are too big to decode safely, oddly shaped, blank, blurred or empty.

Every score is computed on one grey copy reduced to at most `analysis_side` pixels on its long side,
so the cost per image is flat whatever the render resolution. The size check reads only the image
header: an image bomb is refused before a single pixel is decoded. The grey copy is a product of the
chain's shared decode (`pipelines.images`): dedup's fingerprints come from the same decode.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from filters.base import Filter
from pipelines import images
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
    version = "3"  # 3: the grey copy is reduced by area averaging (images.reduce_grey)
    reads = ("image", "width", "height")

    def __init__(self, config: ImageFilterConfig = ImageFilterConfig()):
        self.config = config

    @property
    def image_products(self) -> tuple[str, ...]:
        """What it reads of the pixels: computed at the one decode each image gets per batch."""
        return (images.grey_product(self.config.analysis_side),)

    def applies(self, row: dict[str, Any]) -> bool:
        """Samples with one `image`; an interleaved document (its `images`) is the document filter's."""
        return row.get("image") is not None and row["image"].get("bytes") is not None

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        if self._too_small(row.get("width"), row.get("height")):
            return {}  # never decode what is failed anyway
        view = images.view(row["image"]["bytes"])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                w, h = view.size()  # from the header: nothing is decoded yet
                scores = {"megapixels": w * h / 1e6, "aspect": max(w, h) / max(min(w, h), 1)}
                if scores["megapixels"] > self.config.max_megapixels or self._too_small(w, h):
                    return scores
                grey = view.grey(self.config.analysis_side)  # a JPEG is decoded reduced, in grey
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            # Pillow's own guard fired first (above its MAX_IMAGE_PIXELS); it names the size.
            m = re.search(r"\((\d+) pixels\)", str(e))
            return {"megapixels": int(m.group(1)) / 1e6 if m else float("inf")}
        except (OSError, SyntaxError, ValueError) as e:
            raise InputError("UndecodableImage", f"the image bytes cannot be decoded: {type(e).__name__}: {e}") from e
        return scores | image_scores(grey)

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
    """Spread, entropy, content share and sharpness of a grey image (levels 0-255, uint8 or float)."""
    levels = grey if grey.dtype == np.uint8 else grey.astype(np.uint8)
    hist = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    n = hist.sum()
    p = hist[hist > 0] / n
    background = int(np.argmax(hist))
    far = np.abs(_LEVELS - background) > 24  # the levels that differ from the background
    content = (levels < background - 24) | (levels > background + 24)
    mean = (hist * _LEVELS).sum() / n
    # Sharpness is judged where there is something to be sharp: the Laplacian's variance over a white
    # page would fall with the share of paper, not with blur. Integer Laplacian (exact), variance in float32.
    g = levels.astype(np.int16)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    near = _dilate(content)[1:-1, 1:-1]
    return {
        "pixel_std": float(np.sqrt((hist * (_LEVELS - mean) ** 2).sum() / n)),
        "entropy": float(-(p * np.log2(p)).sum()),
        "content_frac": float(hist[far].sum() / n),
        "blur": float(lap[near].astype(np.float32).var()) if near.any() else 0.0,
    }


_LEVELS = np.arange(256, dtype=np.float64)


def _dilate(mask: np.ndarray, r: int = 2) -> np.ndarray:
    """Grow a mask by `r` pixels (so edges around content count as content's neighbourhood); the image
    wraps around at its edges, as `np.roll` would, but each shift is OR-ed in place."""
    out = mask
    for axis in (0, 1):
        grown = out.copy()
        src, dst = (out, grown) if axis == 0 else (out.T, grown.T)
        for s in range(1, r + 1):
            dst[s:] |= src[:-s]
            dst[:s] |= src[-s:]
            dst[:-s] |= src[s:]
            dst[-s:] |= src[:s]
        out = grown
    return out
