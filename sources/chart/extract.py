"""Figures on PDF pages: find them (raster, vector or both), read their captions, crop and classify them.

DeepSeek-VL learns charts and figures from images paired with the words that describe them. A PDF
already holds both, the figure (a placed image or vector line-art) and its caption next to it, so the
PDF source calls `find_figures`, `crop` and `classify_figure` on every page. Finding is layout rules
only (no model), fast, and its mistakes can be traced to a rule:

* raster candidates are placed images (`get_image_info`), minus icons (< 16 pt a side or < 40x40 pt)
  and page-sized images (the background of a scanned page is not a figure);
* vector candidates are `cluster_drawings()` clusters of the visible paths, after dropping white
  fills (backgrounds) and page-sized frames; a cluster that is only a frame or shading around text
  (a boxed paragraph) is dropped, and a single rule never forms a cluster;
* candidates that overlap or nearly touch merge; line-art with an image in it is "mixed";
* a region grows over the short text lines hugging it (tick labels, axis titles, legends), which
  become its `inner_text`; a region that is mostly paragraphs is dropped, so prose is never a figure;
* its caption is the nearest text block above or below (within 40 pt, overlapping it horizontally,
  so in the same column, with no paragraph in between) that starts with a caption label: "Figure 3",
  "Fig. 2", "Fig 2", "Table 1", "Chart 4", "Exhibit 5", "图 3", "图3", "图一", "表２" ...

Tables: a ruled grid with text in its cells is returned only when it has a "Table N"/"表 N" caption
(then `is_table_caption` is True, origin "vector", and the classifier says "table"); pass
`tables=False` to drop those as well. An uncaptioned grid cannot be told from a form or a boxed
layout, and tables ruled with horizontal lines only (booktabs) are not line-art clusters at all:
both stay with the page's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pymupdf

from sources.chart.classify import chart_kind, classify_figure, is_table, vector_features, visible

__all__ = ["FigureRegion", "find_figures", "crop", "classify_figure", "chart_kind", "caption_label"]

MIN_SIDE = 16.0  # pt: thinner images and clusters are rules, icons, bullets
MIN_AREA = 1600.0  # pt^2 (40 x 40): smaller ones are logos and decorations
BACKGROUND_SHARE = 0.8  # an image covering this share of the page is a scan or a background
FURNITURE_SHARE = 0.5  # a path of <= 4 pieces covering this share of the page is a frame or background
MERGE_GAP = 5.0  # pt: candidates this close are parts of one figure
HUG_GAP = 10.0  # pt: text lines this close to a figure are its labels
HUG_MAX_WORDS = 8  # longer lines are prose, never labels
CAPTION_GAP = 40.0  # pt between a figure and its caption, at most
PROSE_WORDS = 15  # a block of this many words on two or more lines is a paragraph
CROP_PAD = 4.0  # pt around a crop, so strokes on the edge are not cut

_SEP = r"(?=\s|[:：.．|,，、—–-]|$)"
_EN = re.compile(r"^\s*((?i:figure|fig\.?|table|tab\.|chart|exhibit)\s*(?:\d+|[IVXLC]+)(?:[.\-–]\d+)*[a-z]?)" + _SEP)
_ZH = re.compile(r"^\s*([图表圖]\s*(?:[0-9０-９]+(?:[.\-－–．][0-9０-９]+)*(?=[\u4e00-\u9fff])|"
                 r"[0-9０-９]+(?:[.\-－–．][0-9０-９]+)*" + _SEP + r"|[一二三四五六七八九十〇]+" + _SEP + "))")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_WORD = re.compile(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff]+")


@dataclass(frozen=True)
class FigureRegion:
    """A figure found on a page: where it is (PDF points), what it is made of, and the words that go with it."""

    bbox: tuple[float, float, float, float]
    origin: str  # "raster" | "vector" | "mixed"
    caption: str = ""
    caption_bbox: tuple[float, float, float, float] | None = None
    label: str = ""  # the caption's prefix: "Figure 3", "Fig. 2", "图 3", "Table 2"; "" without a caption
    inner_text: str = ""  # text inside the region: tick labels, legend, axis titles, cell text
    is_table_caption: bool = False


def caption_label(text: str) -> str:
    """The caption label a text starts with ("Figure 3", "Fig. 2", "图 3", "表1"), or "" if it is no caption."""
    m = _EN.match(text) or _ZH.match(text)
    return re.sub(r"\s+", " ", m.group(1)).rstrip(".．") if m else ""


def crop(page: pymupdf.Page, bbox: tuple[float, float, float, float], dpi: int = 200) -> tuple[bytes, int, int]:
    """PNG of a page region at `dpi`, padded by a few points and clamped to the page: the figure's image sample."""
    clip = (pymupdf.Rect(bbox) + (-CROP_PAD, -CROP_PAD, CROP_PAD, CROP_PAD)) & page.rect
    if clip.is_empty:
        raise ValueError(f"region {bbox} lies outside the page {tuple(page.rect)}")
    pix = page.get_pixmap(clip=clip, dpi=dpi, alpha=False)
    return pix.tobytes("png"), pix.width, pix.height


# -- page text ----------------------------------------------------------------------------------------

@dataclass
class _Line:
    rect: pymupdf.Rect
    text: str
    words: int
    block: _Block


@dataclass
class _Block:
    rect: pymupdf.Rect
    lines: list[_Line] = field(default_factory=list)
    text: str = ""
    label: str = ""
    prose: bool = False


def _join(parts: list[str]) -> str:
    out = ""
    for t in (p.strip() for p in parts):
        if t:
            out += ("" if not out or (_CJK.match(out[-1]) and _CJK.match(t[0])) else " ") + t
    return re.sub(r"\s+", " ", out).strip()


def _text_blocks(page: pymupdf.Page) -> list[_Block]:
    blocks = []
    flags = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
    for b in page.get_text("dict", flags=flags)["blocks"]:
        block = _Block(pymupdf.Rect(b["bbox"]))
        for ln in b.get("lines", []):
            text = "".join(s["text"] for s in ln["spans"])
            if text.strip():
                block.lines.append(_Line(pymupdf.Rect(ln["bbox"]), text, len(_WORD.findall(text)), block))
        if not block.lines:
            continue
        block.text = _join([ln.text for ln in block.lines])
        block.label = caption_label(block.text)
        words = sum(ln.words for ln in block.lines)
        block.prose = not block.label and words >= PROSE_WORDS and (len(block.lines) >= 2 or words >= 30)
        blocks.append(block)
    return blocks


# -- candidates ---------------------------------------------------------------------------------------

@dataclass
class _Candidate:
    rect: pymupdf.Rect
    raster: bool
    paths: list[dict[str, Any]] = field(default_factory=list)
    table: bool = False


def _raster_candidates(page: pymupdf.Page) -> list[_Candidate]:
    out = []
    page_area = page.rect.get_area()
    for info in page.get_image_info():
        r = pymupdf.Rect(info["bbox"]) & page.rect
        if r.is_empty or min(r.width, r.height) < MIN_SIDE or r.get_area() < MIN_AREA:
            continue
        if r.get_area() >= BACKGROUND_SHARE * page_area or min(info["width"], info["height"]) < 8:
            continue  # a scan's page image, or a 1x1 pixel stretched into a coloured box
        out.append(_Candidate(r, raster=True))
    return out


def _vector_candidates(page: pymupdf.Page) -> list[_Candidate]:
    page_area = page.rect.get_area()
    paths = [p for p in page.get_drawings() if visible(p)
             and not (len(p["items"]) <= 4 and p["rect"].get_area() >= FURNITURE_SHARE * page_area)]
    if not paths:
        return []
    cands = [_Candidate(pymupdf.Rect(r), raster=False) for r in page.cluster_drawings(drawings=paths)]
    for p in paths:
        r = p["rect"]
        for c in cands:
            if r.x0 >= c.rect.x0 - 1 and r.y0 >= c.rect.y0 - 1 and r.x1 <= c.rect.x1 + 1 and r.y1 <= c.rect.y1 + 1:
                c.paths.append(p)
                break
    return cands


def _gap(a: pymupdf.Rect, b: pymupdf.Rect) -> float:
    return max(a.x0 - b.x1, b.x0 - a.x1, a.y0 - b.y1, b.y0 - a.y1, 0.0)


def _merge(cands: list[_Candidate], gap: float) -> list[_Candidate]:
    """Union candidates that overlap or lie within `gap` of each other, until none do."""
    cands = list(cands)
    merged = True
    while merged:
        merged = False
        for i in range(len(cands)):
            for j in range(len(cands) - 1, i, -1):
                a, b = cands[i], cands[j]
                if _gap(a.rect, b.rect) <= gap:
                    cands[i] = _Candidate(a.rect | b.rect, a.raster or b.raster, a.paths + b.paths, a.table and b.table)
                    del cands[j]
                    merged = True
    return cands


def _centre_in(r: pymupdf.Rect, box: pymupdf.Rect) -> bool:
    return box.x0 <= (r.x0 + r.x1) / 2 <= box.x1 and box.y0 <= (r.y0 + r.y1) / 2 <= box.y1


def _is_textbox(c: _Candidate, inside: list[_Line]) -> bool:
    """Line-art that is only a frame or shading around text (a boxed paragraph, a highlighted note)."""
    if not inside:
        return False
    if any(ln.block.prose for ln in inside):
        return True
    straight = all(it[0] in ("l", "re", "qu") for p in c.paths for it in p["items"])
    return straight and len(c.paths) <= 2


def _hug(rect: pymupdf.Rect, lines: list[_Line]) -> pymupdf.Rect:
    """Grow a region over the short lines hugging it (tick labels, then the axis title beyond them)."""
    rect = pymupdf.Rect(rect)
    for _ in range(3):
        grown = pymupdf.Rect(rect)
        for ln in lines:
            if ln.words <= HUG_MAX_WORDS and _gap(ln.rect, rect) <= HUG_GAP:
                grown |= ln.rect
        if grown == rect:
            break
        rect = grown
    return rect


# -- finding ------------------------------------------------------------------------------------------

def find_figures(page: pymupdf.Page, tables: bool = True) -> list[FigureRegion]:
    """Every figure on the page (raster images, vector line-art, or both) with its caption and inner text.

    Ruled tables come back only when captioned as tables (`is_table_caption`), and not at all with
    `tables=False`. Regions are sorted top to bottom, then left to right.
    """
    blocks = _text_blocks(page)
    free = [ln for b in blocks if not b.label and not b.prose for ln in b.lines]
    found: list[tuple[pymupdf.Rect, _Candidate]] = []
    for c in _merge(_raster_candidates(page) + _vector_candidates(page), MERGE_GAP):
        inside = [ln for b in blocks for ln in b.lines if _centre_in(ln.rect, c.rect)]
        if c.paths and not c.raster:
            feats = vector_features(c.paths, c.rect, [ln.rect for ln in inside], [ln.text for ln in inside])
            c.table = is_table(feats)
            if not c.table and _is_textbox(c, inside):
                continue
        found.append((_hug(c.rect, free), c))
    # hugging can make neighbours touch (two panels sharing labels): join those once more
    cands = _merge([_Candidate(r, c.raster, c.paths, c.table) for r, c in found], 0.0)
    cands = [c for c in cands if min(c.rect.width, c.rect.height) >= MIN_SIDE and c.rect.get_area() >= MIN_AREA
             and not _mostly_prose(c, blocks)]
    captions = _assign_captions(cands, blocks)
    regions = []
    for i, c in enumerate(cands):
        cap = captions.get(i)
        is_table_cap = bool(cap and cap.label[0] in "Tt表")
        if c.table and (not tables or not is_table_cap):
            continue
        inner = _join([ln.text for b in blocks if b is not cap for ln in b.lines if _centre_in(ln.rect, c.rect)])
        origin = "mixed" if c.raster and c.paths else "raster" if c.raster else "vector"
        regions.append(FigureRegion(
            bbox=_box(c.rect), origin=origin, caption=cap.text if cap else "",
            caption_bbox=_box(cap.rect) if cap else None, label=cap.label if cap else "",
            inner_text=inner, is_table_caption=is_table_cap))
    return sorted(regions, key=lambda r: (round(r.bbox[1]), r.bbox[0]))


def _box(r: pymupdf.Rect) -> tuple[float, float, float, float]:
    return (round(r.x0, 2), round(r.y0, 2), round(r.x1, 2), round(r.y1, 2))


def _mostly_prose(c: _Candidate, blocks: list[_Block]) -> bool:
    """A region holding a paragraph (half its area or more inside) is text, whatever is drawn behind it."""
    if c.table:
        return False
    return any(b.prose and (b.rect & c.rect).get_area() >= 0.5 * b.rect.get_area() for b in blocks)


def _assign_captions(cands: list[_Candidate], blocks: list[_Block]) -> dict[int, _Block]:
    """Pair regions with caption blocks, nearest pairs first, each caption used once."""
    pairs = []
    for i, c in enumerate(cands):
        r = c.rect
        for b in blocks:
            if not b.label:
                continue
            overlap = min(r.x1, b.rect.x1) - max(r.x0, b.rect.x0)
            if overlap < 0.5 * min(r.width, b.rect.width):
                continue  # another column
            below, above = b.rect.y0 - r.y1, r.y0 - b.rect.y1
            if -3 <= below <= CAPTION_GAP:
                gap, lo, hi = below, r.y1, b.rect.y0
            elif -3 <= above <= CAPTION_GAP:
                gap, lo, hi = above + 2, b.rect.y1, r.y0  # ties go to the caption below
            else:
                continue
            if any(o is not b and o.prose and o.rect.y0 >= lo - 1 and o.rect.y1 <= hi + 1
                   and min(r.x1, o.rect.x1) > max(r.x0, o.rect.x0) for o in blocks):
                continue  # a paragraph between them: the caption belongs to something else
            kind_mismatch = (b.label[0] in "Tt表") != c.table
            pairs.append((gap + 20 * kind_mismatch, i, b))
    out: dict[int, _Block] = {}
    used: set[int] = set()
    for _, i, b in sorted(pairs, key=lambda t: (t[0], t[1])):
        if i not in out and id(b) not in used:
            out[i] = b
            used.add(id(b))
    return out
