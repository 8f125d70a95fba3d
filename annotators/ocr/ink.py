"""How much of an image's ink lies inside known text lines: the check that lets exact lines stand in for OCR.

A PDF page's text layer (`sources/pdf_layer.py`) and a web tile's DOM lines (`sources/web/dom_lines.py`)
both fill `ocr` for free unless the image shows text they do not hold. Each finds ink its own way (dark
pixels on a subsampled page grid; luminance edges on a full tile) and maps pixel boxes onto its grid its
own way; the measure itself is this one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Box = Sequence[float]
Span = Callable[[float, float, int, int], slice]  # (lo, hi, axis size, pad) in pixels -> a slice of the grid


def share_inside(ink: np.ndarray, boxes: Sequence[Box], exclude: Sequence[Box], span: Span, pad: int,
                 exclude_pad: int, min_share: float) -> float | None:
    """Share of the ink outside `exclude` (figures, images: not text) that lies inside `boxes` (text lines,
    each widened by `pad`); None when less than `min_share` of the grid is ink, too little to judge.
    Boxes are x0, y0, x1, y1 in pixels; `ink` (a boolean grid) has the excluded boxes cleared in place."""
    h, w = ink.shape
    for x0, y0, x1, y1 in exclude:
        ink[span(y0, y1, h, exclude_pad), span(x0, x1, w, exclude_pad)] = False
    total = int(ink.sum())
    if total < min_share * ink.size:
        return None
    text = np.zeros_like(ink)
    for x0, y0, x1, y1 in boxes:
        text[span(y0, y1, h, pad), span(x0, x1, w, pad)] = True
    return float((ink & text).sum()) / total
