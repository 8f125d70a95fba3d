"""A PDF page's text layer as OCR-style lines on its rendered image, and whether the layer can be trusted.

A born-digital page already knows its text and where each line stands, exactly: PyMuPDF gives line
boxes. Those lines fill the `ocr` column for free (`meta.ocr_source = "text_layer"`), so OCR runs only
where the layer cannot be trusted: no layer (a scan), a garbled layer (broken font encodings), or a
layer that covers much less of the page's ink than the image shows (text drawn as outlines, a
partial scan). Ink coverage is measured on a subsampled copy of the page's own render: the share of
dark pixels, outside figures, that fall inside a text-layer line box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymupdf

from annotators.ocr.ink import share_inside
from filters.text import garbled_frac

INK_LEVEL = 160  # a pixel darker than this (0-255, darkest channel) is ink
PixelMap = Callable[[Any], tuple[float, float, float, float]]  # a rect (x0, y0, x1, y1) to pixels
INK_STEP = 3  # coverage is measured on every 3rd pixel of every 3rd row
MIN_INK_SHARE = 0.002  # a page with less ink than this (of its area) has nothing to check
LINE_PAD = 2  # pixels around a line box that still count as the line's (anti-aliasing, descenders)


@dataclass(frozen=True)
class LayerLine:
    """One line of the text layer, its box in the unrotated page coordinates text extraction uses."""

    text: str
    rect: pymupdf.Rect


@dataclass(frozen=True)
class LayerCheck:
    """Why a page's text layer should not stand in for OCR (`issue`, None if it can), with the figures."""

    issue: str | None  # "no_text_layer" | "garbled" | "low_text_ink"
    garbled: float
    text_ink: float | None  # share of the ink (outside figures) inside line boxes; None: no ink to judge

    def as_meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {"garbled": round(self.garbled, 4)}
        if self.text_ink is not None:
            out["text_ink"] = round(self.text_ink, 4)
        if self.issue:
            out["issue"] = self.issue
        return out


def text_lines(page: pymupdf.Page, textpage: pymupdf.TextPage | None = None,
               found: dict[str, Any] | None = None) -> list[LayerLine]:
    """The page's non-blank text lines in the layer's order (for born-digital documents, reading order);
    `textpage`: the page's text already extracted (with TEXTFLAGS_TEXT), to extract it only once;
    `found`: its `get_text("dict")` already made from that."""
    lines = []
    if found is None:
        found = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT, textpage=textpage)
    for block in found["blocks"]:
        for line in block.get("lines", ()):
            text = "".join(span["text"] for span in line["spans"]).strip()
            if text:
                lines.append(LayerLine(text, pymupdf.Rect(line["bbox"])))
    return lines


def to_pixels(rect: pymupdf.Rect, page: pymupdf.Page, zoom: float,
              origin: pymupdf.Point | None = None) -> tuple[float, float, float, float]:
    """A text-extraction rect as x0, y0, x1, y1 pixels of the page rendered at `zoom` (turned with the
    page's rotation); `origin` is the top-left of a rendered clip, in displayed page points."""
    return pixel_mapper(page, zoom, origin)(rect)


def pixel_mapper(page: pymupdf.Page, zoom: float, origin: pymupdf.Point | None = None) -> PixelMap:
    """`to_pixels` for many rects of one page: the page's rotation read once, each rect mapped in plain float
    arithmetic (MuPDF's order: the corners turned, then shifted by `origin`, then scaled), ~30x cheaper than
    PyMuPDF's Rect and Matrix objects, which cost ~8 ms a page of 45 lines mapped twice. The same values on
    unturned pages; on turned ones within 1e-4 px (MuPDF turns rects in single precision)."""
    m = page.rotation_matrix
    a, b, c, d, e, f = m.a, m.b, m.c, m.d, m.e, m.f
    ox, oy = (origin.x, origin.y) if origin is not None else (0.0, 0.0)

    def mapped(rect: Any) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = rect
        xs = (a * x0 + c * y0 + e, a * x1 + c * y0 + e, a * x0 + c * y1 + e, a * x1 + c * y1 + e)
        ys = (b * x0 + d * y0 + f, b * x1 + d * y0 + f, b * x0 + d * y1 + f, b * x1 + d * y1 + f)
        return (min(xs) - ox) * zoom, (min(ys) - oy) * zoom, (max(xs) - ox) * zoom, (max(ys) - oy) * zoom

    return mapped


def ocr_rows(lines: list[LayerLine], page: pymupdf.Page, zoom: float, width: int, height: int,
             origin: pymupdf.Point | None = None) -> list[dict[str, Any]]:
    """Lines as rows of the `ocr` column (text, score 1.0, quadrilateral box) on an image of
    `width` x `height` pixels; lines outside the image are left out, the rest clipped to it."""
    rows = []
    px = pixel_mapper(page, zoom, origin)
    for line in lines:
        x0, y0, x1, y1 = px(line.rect)
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        box = [round(v, 2) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]
        rows.append({"text": line.text, "score": 1.0, "box": box})
    return rows


def check_layer(text: str, pix: pymupdf.Pixmap, boxes: list[tuple[float, float, float, float]],
                exclude: list[tuple[float, float, float, float]], max_garbled: float,
                min_text_ink: float) -> LayerCheck:
    """Whether the layer (its `text` and line `boxes`, in pixels of `pix`) can stand in for OCR.
    `exclude`: pixel boxes of figures, whose ink is the figure's (judged on its own crop)."""
    if not text.strip():
        return LayerCheck("no_text_layer", 0.0, None)
    garbled = garbled_frac(text)
    share = text_ink_share(pix, boxes, exclude)
    issue = None
    if garbled > max_garbled:
        issue = "garbled"
    elif share is not None and share < min_text_ink:
        issue = "low_text_ink"
    return LayerCheck(issue, garbled, share)


def text_ink_share(pix: pymupdf.Pixmap, boxes: list[tuple[float, float, float, float]],
                   exclude: list[tuple[float, float, float, float]]) -> float | None:
    """Share of the ink outside `exclude` that lies inside `boxes` (all in pixels of `pix`), measured
    on a subsampled grid; None when the page has too little ink to judge."""
    n = pix.n
    pixels = np.ndarray((pix.height, pix.width, n), np.uint8, pix.samples_mv, strides=(pix.stride, n, 1))  # a view
    grid = pixels[::INK_STEP, ::INK_STEP]
    darkest = grid[:, :, 0]
    for c in range(1, min(n, 3)):  # channel by channel: no copy of the page, 6x faster than min(axis=2)
        darkest = np.minimum(darkest, grid[:, :, c])
    return share_inside(darkest < INK_LEVEL, boxes, exclude, _span, LINE_PAD, 0, MIN_INK_SHARE)


def _span(lo: float, hi: float, size: int, pad: int) -> slice:
    """Pixel range lo..hi (padded) as a slice of the subsampled grid."""
    return slice(max(0, int((lo - pad) // INK_STEP)), min(size, int((hi + pad) // INK_STEP) + 1))
