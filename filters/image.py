"""Image filter: drop images too small to learn from and blank or near-uniform renders."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from filters.base import Filter


@dataclass(frozen=True)
class ImageFilterConfig:
    """Thresholds: `min_side` in pixels; `min_pixel_std` on 0-255 grey levels (a blank page is ~0)."""

    min_side: int = 32
    min_pixel_std: float = 2.0


class ImageFilter(Filter):
    """Scores grey-level spread on a reduced copy (blank pages score ~0) and checks the size."""

    name = "image_filter"
    version = "1"
    reads = ("image", "width", "height")

    def __init__(self, config: ImageFilterConfig = ImageFilterConfig()):
        self.config = config

    def applies(self, row: dict[str, Any]) -> bool:
        return row.get("image") is not None and row["image"].get("bytes") is not None

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        if self._too_small(row):
            return {}  # never decode what is failed anyway (a tiny image may be a decompression bomb's header)
        with Image.open(io.BytesIO(row["image"]["bytes"])) as im:
            grey = im.convert("L")
        if min(grey.size) >= 64:
            grey = grey.reduce(4)
        return {"pixel_std": float(np.asarray(grey).std())}

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        if self._too_small(row):
            return "too_small"
        return "blank" if scores["pixel_std"] < self.config.min_pixel_std else None

    def _too_small(self, row: dict[str, Any]) -> bool:
        w, h = row.get("width"), row.get("height")
        return w is not None and h is not None and min(w, h) < self.config.min_side
