"""Figures on PDF pages: find them (raster, vector or both), read their captions, crop and classify them.

DeepSeek-VL learns charts and figures from images paired with the words that describe them. A PDF
already holds both, the figure (a placed image or vector line-art) and its caption next to it, so the
PDF source calls `find_figures`, `crop` and `classify_figure` on every page. Finding is layout rules
only (no model), fast, and its mistakes can be traced to a rule:

* raster candidates are placed images (`get_image_info`), minus icons (< 16 pt a side or < 40x40 pt)
  and page-sized images (the background of a scanned page is not a figure);
* vector candidates are clusters of the visible paths (`cluster_drawings()`'s rule), after dropping white
  fills (backgrounds) and page-sized frames; a cluster that is only a frame or shading around text
  (a boxed paragraph, a booktabs table) or an empty frame is dropped, and a single rule never forms
  a cluster;
* candidates that overlap or nearly touch (5 pt) merge; line-art with an image in it is "mixed"; small
  marks (legend swatches) join the figure within 20 pt of them, or are dropped;
* a region grows over the short text lines hugging it (tick labels, axis titles, legends), which
  become its `inner_text`; a region that is mostly paragraphs is dropped, so prose is never a figure;
* its caption is the nearest text block above or below (within 40 pt, in the same column: overlapping
  the figure horizontally, or set flush left in the column the figure's middle lies in; with no
  paragraph in between) that starts with a caption label: "Figure 3", "Fig. 2", "Fig 2", "Table 1",
  "Chart 4", "Exhibit 5", "图 3", "图3", "图一", "表２" ... ("Figure 2 shows ..." is a sentence, not a
  caption); each caption goes to one figure, nearest pairs first;
* an uncaptioned panel beside a captioned one (within 72 pt, same row) whose caption reaches under it
  joins it: sub-figures (a) and (b) sharing one caption are one figure.

Tables: a ruled grid (>= 3 full-width and >= 2 full-height rules, text in the cells) is returned only
when it has a "Table N"/"表 N" caption; then `is_table_caption` is True, origin is "vector" and the
classifier says "table". Pass `tables=False` to drop those as well. An uncaptioned grid cannot be told
from a form or a boxed layout, and a table ruled with horizontal lines only (booktabs) is rules around
text: both stay with the page's text sample.

Coordinates are PDF points in PyMuPDF's unrotated page space (the one `get_text` and `get_drawings`
use); `crop` turns them with a rotated page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pymupdf

from filters.textkit import CJK_LETTER, CJK_UNSPACED
from sources.chart.classify import chart_kind, classify_figure, is_table, vector_features, visible

__all__ = ["FigureRegion", "find_figures", "crop", "classify_figure", "chart_kind", "caption_label", "page_box"]

MIN_SIDE = 16.0  # pt: thinner images and clusters are rules, icons, bullets
MIN_AREA = 1600.0  # pt^2 (40 x 40): smaller ones are logos and decorations
BACKGROUND_SHARE = 0.8  # an image covering this share of the page is a scan or a background
FURNITURE_SHARE = 0.5  # a path of <= 4 pieces covering this share of the page is a frame or background
CLUSTER_TOLERANCE = 3.0  # pt: paths this close are one piece of line-art (cluster_drawings' default)
MERGE_GAP = 5.0  # pt: candidates this close are parts of one figure
_CELL = 32.0  # pt: grid cell for neighbour look-ups
SATELLITE_GAP = 20.0  # pt: a small mark (legend swatch) this close to a figure belongs to it
HUG_GAP = 10.0  # pt: text lines this close to a figure are its labels
HUG_MAX_WORDS = 6  # longer lines (and lead-ins ending in ":") are prose, never labels
CAPTION_GAP = 40.0  # pt between a figure and its caption, at most
PANEL_GAP = 72.0  # pt between sub-figure panels that share one caption (which must reach under both)
PROSE_WORDS = 15  # a block of this many words on two or more lines is a paragraph
CROP_PAD = 4.0  # pt around a crop, so strokes on the edge are not cut

_SEP = r"(?=\s|[:：.．|,，、—–-]|$)"
_EN = re.compile(r"^\s*((?i:figure|fig\.?|table|tab\.|chart|exhibit)\s*(?:\d+|[IVXLC]+)(?:[.\-–]\d+)*[a-z]?)" + _SEP)
_ZH = re.compile(r"^\s*([图表圖]\s*(?:[0-9０-９]+(?:[.\-－–．][0-9０-９]+)*(?=[\u4e00-\u9fff])|"
                 r"[0-9０-９]+(?:[.\-－–．][0-9０-９]+)*" + _SEP + r"|[一二三四五六七八九十〇]+" + _SEP + "))")
_CJK = re.compile(CJK_UNSPACED)  # joined without a space
_WORD = re.compile(rf"{CJK_LETTER}|(?:(?!{CJK_LETTER})\S)+")  # each CJK letter is a word


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
    """The caption label a text starts with ("Figure 3", "Fig. 2", "图 3", "表1"), or "" if it is no caption.

    "Figure 2 shows ..." is a sentence about a figure, not a caption: an English label followed by a
    space and a lower-case word does not count."""
    m = _EN.match(text)
    if m and re.match(r"\s+[a-z]", text[m.end():]):
        return ""
    m = m or _ZH.match(text)
    return re.sub(r"\s+", " ", m.group(1)).rstrip(".．") if m else ""


def page_box(page: pymupdf.Page) -> pymupdf.Rect:
    """The page in the unrotated coordinates that text, drawings, images and `FigureRegion.bbox` use."""
    return page.rect * page.derotation_matrix


def crop_clip(page: pymupdf.Page, bbox: tuple[float, float, float, float]) -> pymupdf.Rect:
    """The displayed (rotated) page area `crop` renders for a region: padded, clamped to the page. Its
    top-left is the crop's pixel origin, so text-layer boxes can be placed on the crop."""
    padded = (pymupdf.Rect(bbox) + (-CROP_PAD, -CROP_PAD, CROP_PAD, CROP_PAD)) & page_box(page)
    clip = padded * page.rotation_matrix
    if padded.is_empty or clip.is_empty:
        raise ValueError(f"region {bbox} lies outside the page {tuple(page_box(page))}")
    return clip


def crop(page: pymupdf.Page, bbox: tuple[float, float, float, float], dpi: int = 200) -> tuple[bytes, int, int]:
    """PNG of a page region at `dpi`, padded by a few points and clamped to the page: the figure's image sample.

    A rotated page is cropped as it is displayed (the region turned with the page)."""
    pix = page.get_pixmap(clip=crop_clip(page, bbox), dpi=dpi, alpha=False)
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
    """The page's text blocks, each split into side-by-side parts where MuPDF joined lines from two
    columns (short captions at the same height in two columns come back as one block)."""
    blocks = []
    flags = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
    for b in page.get_text("dict", flags=flags)["blocks"]:
        lines = [(pymupdf.Rect(ln["bbox"]), "".join(s["text"] for s in ln["spans"])) for ln in b.get("lines", [])]
        lines = [(r, t) for r, t in lines if t.strip()]
        for part in _side_by_side(lines):
            block = _Block(pymupdf.Rect(part[0][0]))
            for r, t in part:
                block.rect = _union(block.rect, r)
                block.lines.append(_Line(r, t, len(_WORD.findall(t)), block))
            block.text = _join([ln.text for ln in block.lines])
            block.label = caption_label(block.text)
            words = sum(ln.words for ln in block.lines)
            block.prose = not block.label and words >= PROSE_WORDS and (len(block.lines) >= 2 or words >= 30)
            blocks.append(block)
    return blocks


def _side_by_side(lines: list[tuple[pymupdf.Rect, str]]) -> list[list[tuple[pymupdf.Rect, str]]]:
    """Group a block's lines into runs whose x-ranges overlap; lines in two columns never overlap."""
    parts: list[tuple[float, float, list[tuple[pymupdf.Rect, str]]]] = []
    for r, t in sorted(lines, key=lambda lt: lt[0].x0):
        if parts and r.x0 < parts[-1][1]:
            x0, x1, members = parts[-1]
            parts[-1] = (x0, max(x1, r.x1), members + [(r, t)])
        else:
            parts.append((r.x0, r.x1, [(r, t)]))
    return [sorted(m, key=lambda lt: (lt[0].y0, lt[0].x0)) for _, _, m in parts]


# -- candidates ---------------------------------------------------------------------------------------

@dataclass
class _Candidate:
    rect: pymupdf.Rect
    raster: bool
    paths: list[dict[str, Any]] = field(default_factory=list)
    table: bool = False


def _raster_candidates(page: pymupdf.Page) -> list[_Candidate]:
    out = []
    whole = page_box(page)
    page_area = whole.get_area()
    for info in page.get_image_info():
        r = pymupdf.Rect(info["bbox"]) & whole
        if r.is_empty or min(r.width, r.height) < MIN_SIDE or r.get_area() < MIN_AREA:
            continue
        if r.get_area() >= BACKGROUND_SHARE * page_area or min(info["width"], info["height"]) < 8:
            continue  # a scan's page image, or a 1x1 pixel stretched into a coloured box
        out.append(_Candidate(r, raster=True))
    return out


def _vector_candidates(page: pymupdf.Page) -> list[_Candidate]:
    """Clusters of visible paths: PyMuPDF's `cluster_drawings` rule (items within 3 pt join, the grown
    box keeps absorbing, clusters no wider or taller than 3 pt are dropped), computed on a grid because
    `cluster_drawings` compares every pair (5 s for 3,000 separate marks, such as text drawn as outlines)."""
    page_area = page.rect.get_area()
    paths = [p for p in page.get_drawings() if visible(p)
             and not (len(p["items"]) <= 4 and p["rect"].get_area() >= FURNITURE_SHARE * page_area)]
    groups = _closure([p["rect"] for p in paths], CLUSTER_TOLERANCE)
    out = []
    for rect, members in groups:
        if rect.width > CLUSTER_TOLERANCE and rect.height > CLUSTER_TOLERANCE:
            out.append(_Candidate(rect, raster=False, paths=[paths[i] for i in members]))
    return out


def _union(a: pymupdf.Rect, b: pymupdf.Rect) -> pymupdf.Rect:
    """Bounding box of two boxes. Not `a | b`: PyMuPDF ignores an empty box there, and a straight
    rule's box (an axis, a table line) has no width or no height."""
    return pymupdf.Rect(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))


def _gap(a: pymupdf.Rect, b: pymupdf.Rect) -> float:
    return max(a.x0 - b.x1, b.x0 - a.x1, a.y0 - b.y1, b.y0 - a.y1, 0.0)


def _closure(rects: list[pymupdf.Rect], gap: float) -> list[tuple[pymupdf.Rect, list[int]]]:
    """Groups of rectangles joined while any two group boxes lie within `gap` of each other, as
    (group box, member indices). Neighbours are looked up in a grid of cells, so this stays linear."""
    groups = [(pymupdf.Rect(r).normalize(), [i]) for i, r in enumerate(rects)]
    while True:
        parent = list(range(len(groups)))

        def root(i: int, parent: list[int] = parent) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        cells: dict[tuple[int, int], list[int]] = {}
        joined = False
        for i, (r, _) in enumerate(groups):
            seen: set[int] = set()
            for gx in range(int((r.x0 - gap) // _CELL), int((r.x1 + gap) // _CELL) + 1):
                for gy in range(int((r.y0 - gap) // _CELL), int((r.y1 + gap) // _CELL) + 1):
                    bucket = cells.setdefault((gx, gy), [])
                    for j in bucket:
                        if j not in seen and _gap(r, groups[j][0]) <= gap and root(i) != root(j):
                            parent[root(i)] = root(j)
                            joined = True
                        seen.add(j)
                    bucket.append(i)
        if not joined:
            return groups
        merged: dict[int, tuple[pymupdf.Rect, list[int]]] = {}
        for i, (r, members) in enumerate(groups):
            k = root(i)
            if k in merged:
                merged[k] = (_union(merged[k][0], r), merged[k][1] + members)
            else:
                merged[k] = (pymupdf.Rect(r), list(members))
        groups = list(merged.values())


def _merge(cands: list[_Candidate], gap: float) -> list[_Candidate]:
    """Union candidates that overlap or lie within `gap` of each other, until none do."""
    out = []
    for rect, members in _closure([c.rect for c in cands], gap):
        group = [cands[i] for i in sorted(members)]
        out.append(_Candidate(rect, any(c.raster for c in group), [p for c in group for p in c.paths],
                              all(c.table for c in group)))
    return out


def _centre_in(r: pymupdf.Rect, box: pymupdf.Rect) -> bool:
    return box.x0 <= (r.x0 + r.x1) / 2 <= box.x1 and box.y0 <= (r.y0 + r.y1) / 2 <= box.y1


def _is_textbox(feats: dict[str, float], inside: list[_Line]) -> bool:
    """Line-art that only frames or rules text: a boxed paragraph, a shaded note, a booktabs table.

    Straight rules (no curves, no slopes) that are not a table grid, with text covering >= 8% of
    them, hold text rather than draw a figure; any paragraph inside settles it too."""
    if any(ln.block.prose for ln in inside):
        return True
    straight = feats["curves"] == 0 and feats["sloped"] == 0
    return straight and not is_table(feats) and feats["text_cover"] >= 0.08


def _hug(rect: pymupdf.Rect, lines: list[_Line]) -> pymupdf.Rect:
    """Grow a region over the short lines hugging it (tick labels, then the axis title beyond them)."""
    rect = pymupdf.Rect(rect)
    for _ in range(3):
        grown = pymupdf.Rect(rect)
        for ln in lines:
            if ln.words <= HUG_MAX_WORDS and not ln.text.rstrip().endswith(":") and _gap(ln.rect, rect) <= HUG_GAP:
                grown = _union(grown, ln.rect)
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
    found: list[_Candidate] = []
    satellites: list[_Candidate] = []
    for c in _merge(_raster_candidates(page) + _vector_candidates(page), MERGE_GAP):
        inside = [ln for b in blocks for ln in b.lines if _centre_in(ln.rect, c.rect)]
        if c.paths and not c.raster:
            feats = vector_features(c.paths, c.rect, [ln.rect for ln in inside], [ln.text for ln in inside])
            if _is_textbox(feats, inside) or (feats["fills"] == 0 and feats["interior"] == 0):
                continue  # text in a frame, or an empty frame (a box around nothing, a table border)
            c.table = is_table(feats)
        small = min(c.rect.width, c.rect.height) < MIN_SIDE or c.rect.get_area() < MIN_AREA
        (satellites if small else found).append(_Candidate(_hug(c.rect, free), c.raster, c.paths, c.table))
    # small marks (legend swatches, a key, an arrow) join the figure they sit next to, or are dropped
    for s in satellites:
        near = [c for c in found if _gap(s.rect, c.rect) <= SATELLITE_GAP]
        if near:
            target = min(near, key=lambda c: _gap(s.rect, c.rect))
            target.rect = _union(target.rect, s.rect)
            target.paths = target.paths + s.paths
    # hugging and satellites can make neighbours touch (two panels sharing labels): join those
    cands = [c for c in _merge(found, 0.0) if not _mostly_prose(c, blocks)]
    captions = _assign_captions(cands, blocks)
    cands, captions = _join_panels(cands, captions)
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


def _join_panels(cands: list[_Candidate], captions: dict[int, _Block]) -> tuple[list[_Candidate], dict[int, _Block]]:
    """Join an uncaptioned panel to the captioned figure beside it when that caption reaches under (or
    over) it too: sub-figures (a) and (b) sharing one caption are one figure."""
    absorbed: set[int] = set()
    for j, b in enumerate(cands):
        if j in captions:
            continue
        for i, cap in captions.items():
            a, c = cands[i].rect, cap.rect
            same_row = min(a.y1, b.rect.y1) - max(a.y0, b.rect.y0) >= 0.5 * min(a.height, b.rect.height)
            below = c.y0 >= b.rect.y1 - 3 and c.y0 - b.rect.y1 <= CAPTION_GAP
            above = c.y1 <= b.rect.y0 + 3 and b.rect.y0 - c.y1 <= CAPTION_GAP
            reaches = min(c.x1, b.rect.x1) > max(c.x0, b.rect.x0)
            if same_row and _gap(a, b.rect) <= PANEL_GAP and (below or above) and reaches:
                cands[i] = _Candidate(_union(a, b.rect), cands[i].raster or b.raster, cands[i].paths + b.paths,
                                      cands[i].table)
                absorbed.add(j)
                break
    keep = [i for i in range(len(cands)) if i not in absorbed]
    return [cands[i] for i in keep], {n: captions[i] for n, i in enumerate(keep) if i in captions}


def _column(block: _Block, blocks: list[_Block]) -> tuple[float, float]:
    """The x-range of the text column a block sits in: that of the nearest paragraph starting flush with it."""
    flush = [b for b in blocks if b.prose and abs(b.rect.x0 - block.rect.x0) <= 3]
    if not flush:
        return block.rect.x0, block.rect.x1
    near = min(flush, key=lambda b: max(b.rect.y0 - block.rect.y1, block.rect.y0 - b.rect.y1))
    return near.rect.x0, max(near.rect.x1, block.rect.x1)


def _assign_captions(cands: list[_Candidate], blocks: list[_Block]) -> dict[int, _Block]:
    """Pair regions with caption blocks, nearest pairs first, each caption used once."""
    pairs = []
    for i, c in enumerate(cands):
        r = c.rect
        for b in blocks:
            if not b.label:
                continue
            # same column: any horizontal overlap (a caption cannot reach a figure in the next column
            # without crossing the gutter), or, for a short caption set flush left under a centred
            # figure, the figure's middle inside the caption's column (its flush paragraph's extent)
            overlap = min(r.x1, b.rect.x1) - max(r.x0, b.rect.x0)
            col = _column(b, blocks)
            if overlap <= 0 and not col[0] <= (r.x0 + r.x1) / 2 <= col[1]:
                continue
            shortfall = 1 - min(1.0, max(overlap, 0) / min(r.width, b.rect.width))
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
            pairs.append((gap + 20 * kind_mismatch + 10 * shortfall, i, b))
    out: dict[int, _Block] = {}
    used: set[int] = set()
    for _, i, b in sorted(pairs, key=lambda t: (t[0], t[1])):
        if i not in out and id(b) not in used:
            out[i] = b
            used.add(id(b))
    return out
