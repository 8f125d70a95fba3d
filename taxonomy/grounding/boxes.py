"""Boxes for grounding turns: pixel boxes made safe, written on DeepSeek-VL2's 0-999 scale, and read back.

DeepSeek-VL2 writes a box as `[x1, y1, x2, y2]`, integers on a 0-999 scale of the image's width and
height, inside `<|det|>[[…], […]]<|/det|>` after the `<|ref|>…<|/ref|>` it locates. A box taken from
the data is only used when it is sound: finite numbers, mostly on the image (what sticks out is
clipped), not a sliver, not most of the image; it is rounded outward so the written box still
holds everything the pixel box held. `parse` reads answers back, so every turn is checked before it
is written and a malformed or empty box never reaches a shard.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

SCALE = 999
REF, REF_END, DET, DET_END = "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>"
MIN_SIDE = 2.0  # pixels: a thinner box is a rule or a rounding artefact, not something to point at

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
ScaledBox = tuple[int, int, int, int]  # the same on the 0-999 scale

_DET = re.compile(re.escape(DET) + r"(.*?)" + re.escape(DET_END), re.S)
_REF = re.compile(re.escape(REF) + r"(.*?)" + re.escape(REF_END), re.S)
_BOX = re.compile(r"\[\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\]")


def pixel_box(value: Sequence[float] | None) -> Box | None:
    """(x0, y0, x1, y1) from a 4-number box or an 8-number quadrilateral (its bounding box); None when
    the value is not finite numbers of one of those shapes."""
    if value is None or len(value) not in (4, 8):
        return None
    try:
        nums = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in nums):
        return None
    xs, ys = nums[0::2], nums[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def clip(box: Box, width: float, height: float, min_visible: float = 0.8) -> Box | None:
    """`box` clipped to the image; None when less than `min_visible` of it lies on the image, or what is
    left is thinner than MIN_SIDE (text half off the page cannot be read from the image)."""
    inside = (max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3]))
    if inside[2] - inside[0] < MIN_SIDE or inside[3] - inside[1] < MIN_SIDE:
        return None
    if area(inside) < min_visible * area(box):
        return None
    return inside


def scaled(box: Box, width: float, height: float) -> ScaledBox | None:
    """`box` (pixels, on the image) on the 0-999 scale, rounded outward; None when it is empty there."""
    if width <= 0 or height <= 0 or box[2] <= box[0] or box[3] <= box[1]:
        return None
    eps = 1e-6  # 0.1 * 999 / 100 is not exactly 0.999 in floating point
    x0 = math.floor(box[0] / width * SCALE + eps)
    y0 = math.floor(box[1] / height * SCALE + eps)
    x1 = math.ceil(box[2] / width * SCALE - eps)
    y1 = math.ceil(box[3] / height * SCALE - eps)
    out = (max(0, x0), max(0, y0), min(SCALE, x1), min(SCALE, y1))
    return out if is_valid(out) else None


def unscaled(box: Sequence[int], width: float, height: float) -> Box:
    """A 0-999 box back in pixels of a `width` x `height` image (for drawing and for measuring)."""
    return box[0] / SCALE * width, box[1] / SCALE * height, box[2] / SCALE * width, box[3] / SCALE * height


def is_valid(box: Sequence[int]) -> bool:
    """Four integers on the scale with x0 < x1 and y0 < y1."""
    return (len(box) == 4 and all(isinstance(v, int) and 0 <= v <= SCALE for v in box)
            and box[0] < box[2] and box[1] < box[3])


def det(boxes: Sequence[ScaledBox]) -> str:
    """`<|det|>[[x0, y0, x1, y1], …]<|/det|>`."""
    return DET + "[" + ", ".join(f"[{a}, {b}, {c}, {d}]" for a, b, c, d in boxes) + "]" + DET_END


def grounded(text: str, boxes: Sequence[ScaledBox]) -> str:
    """`<|ref|>text<|/ref|><|det|>[[…]]<|/det|>`: an answer that names a thing and where it is."""
    return f"{REF}{text}{REF_END}{det(boxes)}"


def parse(answer: str) -> list[tuple[str | None, list[ScaledBox]]]:
    """Each `<|det|>` group of `answer` with the `<|ref|>` text just before it (None without one). A group
    whose content is not a list of four-integer boxes comes back with no boxes, so the caller can refuse it."""
    out: list[tuple[str | None, list[ScaledBox]]] = []
    start = 0
    for m in _DET.finditer(answer):
        refs = list(_REF.finditer(answer, start, m.start()))
        ref = refs[-1].group(1) if refs else None
        body = m.group(1).strip()
        inner = body[1:-1] if body.startswith("[") and body.endswith("]") else None
        boxes = [tuple(int(v) for v in b.groups()) for b in _BOX.finditer(body)]
        sound = (inner is not None and bool(boxes) and not _BOX.sub("", inner).replace(",", "").strip()
                 and all(is_valid(b) for b in boxes))
        out.append((ref, boxes if sound else []))
        start = m.end()
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(tuple(a)) + area(tuple(b)) - inter  # type: ignore[arg-type]
    return inter / union if union > 0 else 0.0


def overlap(a: Box, b: Box) -> float:
    """The share of the smaller box that the two boxes have in common."""
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    smaller = min(area(a), area(b))
    return inter / smaller if smaller > 0 else 0.0
