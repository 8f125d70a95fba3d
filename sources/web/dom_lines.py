"""A screenshot's OCR lines from the DOM, and whether they can stand in for OCR.

The browser knows the text a page draws and where: dom.js measures each visible text node's line
fragments (character offsets found by binary search on the tops of its words' rects) and groups
them into visual lines per block, in document order. `layout.cut` places them in each tile. Like a
PDF page's text layer (`sources/pdf_layer.py`), they fill `ocr` for free (`meta.ocr_source = "dom"`,
score 1.0) unless the check below says the tile shows text the DOM does not hold: text drawn in a
CSS background, a canvas or an SVG too small to be a figure sample, an iframe, or a walk cut short.

Ink here is edges, not darkness: a web page may be dark on light or light on dark, and its solid
bars and buttons are large areas of colour with no text. A pixel whose luminance differs from its
right or lower neighbour by more than `EDGE_LEVEL` is ink; the check is the share of the ink outside
images (photos and figures are not text, and figures get their own OCRed samples) that lies inside
the DOM line boxes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from annotators.ocr.ink import Box, share_inside

EDGE_LEVEL = 48  # luminance step (0-255) between neighbouring pixels that counts as ink
MIN_INK_SHARE = 0.001  # a tile with fewer ink pixels than this share of its area has nothing to check
LINE_PAD = 3  # pixels around a line box that still count as the line's (anti-aliasing, descenders, underlines)



@dataclass(frozen=True)
class DomCheck:
    """Why a tile's DOM lines should not stand in for OCR (`issue`, None if they can), with the figures."""

    issue: str | None  # "no_dom_text" | "dom_incomplete" | "low_text_ink"
    lines: int
    text_ink: float | None  # share of the ink (outside images) inside line boxes; None: no ink to judge

    def as_meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lines": self.lines}
        if self.text_ink is not None:
            out["text_ink"] = round(self.text_ink, 4)
        if self.issue:
            out["issue"] = self.issue
        return out


def ocr_rows(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tile lines (`{text, box: [x0, y0, x1, y1]}` in the tile's pixels) as rows of the `ocr` column."""
    rows = []
    for line in lines:
        x0, y0, x1, y1 = line["box"]
        rows.append({"text": line["text"], "score": 1.0, "box": [x0, y0, x1, y0, x1, y1, x0, y1]})
    return rows


def check_lines(png: bytes, lines: Sequence[dict[str, Any]], exclude: Sequence[Box], truncated: bool,
                min_text_ink: float) -> DomCheck:
    """Whether a tile's DOM `lines` can stand in for OCR of its image `png`; `exclude`: image boxes
    (tile pixels), whose ink is not text; `truncated`: the DOM walk or its line budget was cut short."""
    if not lines:
        return DomCheck("no_dom_text", 0, None)
    if truncated:
        return DomCheck("dom_incomplete", len(lines), None)
    with Image.open(io.BytesIO(png)) as im:
        gray = np.asarray(im.convert("L"))
    share = text_ink_share(gray, [line["box"] for line in lines], exclude)
    issue = "low_text_ink" if share is not None and share < min_text_ink else None
    return DomCheck(issue, len(lines), share)


def ink(gray: np.ndarray) -> np.ndarray:
    """Edge pixels of a grayscale image: a luminance step to the right or below larger than EDGE_LEVEL."""
    g = gray.astype(np.int16)
    out = np.zeros(g.shape, dtype=bool)
    out[:, :-1] |= np.abs(np.diff(g, axis=1)) > EDGE_LEVEL
    out[:-1, :] |= np.abs(np.diff(g, axis=0)) > EDGE_LEVEL
    return out


def text_ink_share(gray: np.ndarray, boxes: Sequence[Box], exclude: Sequence[Box]) -> float | None:
    """Share of the ink outside `exclude` that lies inside `boxes` (pixel boxes x0, y0, x1, y1); None when
    the image has too little ink to judge."""
    # exclude_pad 1: a step is marked on the pixel before it
    return share_inside(ink(gray), boxes, exclude, _span, LINE_PAD, 1, MIN_INK_SHARE)


def _span(lo: float, hi: float, size: int, pad: int) -> slice:
    return slice(max(0, int(lo) - pad), min(size, int(np.ceil(hi)) + pad))
