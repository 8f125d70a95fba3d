"""Figures on PDF pages: find them (raster, vector or both), read their captions, crop and classify them.

DeepSeek-VL learns charts and figures from images paired with the words that describe them. A PDF
already holds both, the figure (a placed image or vector line-art) and its caption next to it, so the
PDF source calls `find_figures`, `crop` and `classify_figure` on every page. Finding is layout rules
only (no model), fast, and its mistakes can be traced to a rule:

* raster candidates are placed images (`get_image_info`), minus icons (< 16 pt a side or < 40x40 pt)
  and page-sized images (the background of a scanned page is not a figure);
* vector candidates are clusters of the visible paths (`cluster_drawings()`'s rule, each path's box cut
  to its clip: a plot clips its lines to the axes), after dropping white fills (backgrounds) and
  page-sized frames; a cluster that is only a frame or shading around text (a boxed paragraph, a
  booktabs table) or an empty frame is no figure of its own, and a single rule never forms one;
* candidates that overlap or nearly touch (5 pt) merge; line-art with an image in it is "mixed"; small
  marks (legend swatches) join the figure within 20 pt of them, or are dropped;
* a region grows over the short text lines hugging it (tick labels, axis titles, legends), which
  become its `inner_text`; a region that is mostly paragraphs is dropped, so prose is never a figure;
* its caption is a text block above or below (within 40 pt, a figure caption within 90 pt with only
  white space between, as under an R plot's own margin; in the same column: overlapping the figure
  horizontally, or set in the column the figure's middle lies in; with no paragraph in between) that
  starts with a caption label: "Figure 3", "Fig. 2", "Fig 2", "Figure 15.4:", "Table 1", "Chart 4",
  "Exhibit 5", "图 3", "图3", "图一", "表２" ... ("Figure 2 shows ..." is a sentence, not a caption); a
  label set apart from its words on the same line is joined to them; each caption goes to one figure,
  as many pairs as can be made, each caption's nearest first;
* an uncaptioned panel beside a captioned one (within 72 pt, same row) whose caption reaches under it
  joins it: sub-figures (a) and (b) sharing one caption are one figure;
* a figure caption's zone, the strip of its column on the figure's side up to the nearest paragraph,
  code, caption or long line, completes the figure: the pieces there within 90 pt of it join (panels
  of a grid, rows of an association plot, a diagram beside a plot, labelled boxes; a rule only inside
  the figure's width, a picture only beside it, never framed sentences), and a figure caption left
  without a figure takes the nearest ink in its zone (a ruled grid, a diagram of framed words).

Tables: a ruled grid (>= 3 full-width and >= 2 full-height rules, text in the cells) is returned only
when it has a caption, as a figure under a "Figure N" one (a mosaic or sieve plot, a panel layout), and
as a table under a "Table N"/"表 N" caption; then `is_table_caption` is True, origin is "vector" and the
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
from pipelines import images
from sources.chart.classify import chart_kind, classify_figure, is_table, vector_features, visible
from sources.pdf_content import PageContent

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
FAR_CAPTION_GAP = 90.0  # pt: a figure caption this far, with only white space between (a plot's own margin)
GROW_GAP = 90.0  # pt between pieces of one figure in its caption's zone (panels, rows of diagrams, a key)
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


def crop(page: pymupdf.Page, bbox: tuple[float, float, float, float], dpi: int = 200,
         content: PageContent | None = None) -> tuple[bytes, int, int]:
    """PNG of a page region at `dpi`, padded by a few points and clamped to the page: the figure's image sample.
    `content`: the page's display list, if made already (the page is then not interpreted again).

    A rotated page is cropped as it is displayed (the region turned with the page)."""
    if content is None:
        content = PageContent(page)
    pix = content.pixmap(dpi / 72, clip=crop_clip(page, bbox))
    pix.set_dpi(dpi, dpi)  # as `page.get_pixmap(dpi=...)` marks it (the PNG's pHYs)
    data = images.pixmap_png(pix)
    images.remember_pixmap(data, pix)  # the chain's image stages (filters, dedup) then never decode it
    return data, pix.width, pix.height


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
    prose: bool = False  # a run of text: a paragraph, a code listing, a long key
    paragraph: bool = False  # prose in long lines: never inside a figure
    sideways: bool = False  # set turned a quarter, beside a figure turned with it


def _join(parts: list[str]) -> str:
    out = ""
    for t in (p.strip() for p in parts):
        if t:
            out += ("" if not out or (_CJK.match(out[-1]) and _CJK.match(t[0])) else " ") + t
    return re.sub(r"\s+", " ", out).strip()


# The text extraction figures are found in: TEXTFLAGS_DICT without images, which is TEXTFLAGS_TEXT, so one
# `get_text("dict")` serves the figures and the text layer's lines.
TEXT_FLAGS = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES


def _text_blocks(page: pymupdf.Page, found: dict[str, Any] | None = None) -> list[_Block]:
    """The page's text blocks (`found`: its `get_text("dict")` with `TEXT_FLAGS` when already made),
    each split into side-by-side parts where MuPDF joined lines from two columns (short captions at the
    same height in two columns come back as one block), with a bare caption label ("Figure 1:" set apart
    by a wide justified space) joined to the words after it."""
    parts = []
    upright: set[int] = set()  # parts set sideways (a turned figure's caption), by id
    if found is None:
        found = page.get_text("dict", flags=TEXT_FLAGS)
    for b in found["blocks"]:
        raw = [ln for ln in b.get("lines", []) if "".join(s["text"] for s in ln["spans"]).strip()]
        lines = [(pymupdf.Rect(ln["bbox"]), "".join(s["text"] for s in ln["spans"])) for ln in raw]
        if raw and all(abs(ln["dir"][0]) < 0.2 for ln in raw):
            # turned text: its lines stand side by side and read left to right (bottom-up) or right to left
            lines.sort(key=lambda lt: lt[0].x0 if raw[0]["dir"][1] < 0 else -lt[0].x0)
            parts.append(lines)
            upright.add(id(lines))
        else:
            parts += _side_by_side(lines)
    blocks = []
    for part in _join_bare_labels(parts):
        block = _Block(pymupdf.Rect(part[0][0]), sideways=id(part) in upright)
        for r, t in part:
            block.rect = _union(block.rect, r)
            block.lines.append(_Line(r, t, len(_WORD.findall(t)), block))
        block.text = _join([ln.text for ln in block.lines])
        block.label = caption_label(block.text)
        words = sum(ln.words for ln in block.lines)
        block.prose = not block.label and words >= PROSE_WORDS and (len(block.lines) >= 2 or words >= 30)
        # a key of short entries (a plot's legend) has as many words, but not a paragraph's long lines
        # and a diagram's two-line note is short of a paragraph's length
        block.paragraph = block.prose and words >= 5 * len(block.lines) and (len(block.lines) >= 3 or words >= 25)
        blocks.append(block)
    return blocks


def _join_bare_labels(parts: list[list[tuple[pymupdf.Rect, str]]]) -> list[list[tuple[pymupdf.Rect, str]]]:
    """Join a part that is only a caption label ("Figure 1:", "Fig. 2.") to the part that goes on along
    the same line within a few characters' width: justified captions can leave a gap that MuPDF (or
    `_side_by_side`) takes for a column break."""
    out = parts
    for part in out:
        if len(part) != 1 or not part[0][1].strip():
            continue
        r, t = part[0]
        label = caption_label(t)
        if not label or len(re.sub(r"\W", "", t)) > len(re.sub(r"\W", "", label)):
            continue
        after = [q for q in out if q is not part and q and 0 <= q[0][0].x0 - r.x1 <= 3 * r.height
                 and min(r.y1, q[0][0].y1) - max(r.y0, q[0][0].y0) >= 0.5 * r.height]
        if after:
            nxt = min(after, key=lambda q: q[0][0].x0)
            part.extend(nxt)
            nxt.clear()
    return [p for p in out if p]


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

@dataclass(eq=False)  # compared by identity: pieces move between lists
class _Candidate:
    rect: pymupdf.Rect
    raster: bool
    paths: list[dict[str, Any]] = field(default_factory=list)
    table: bool = False
    thin: bool = False  # a rule (<= 3 pt across): joins a figure only inside its own width
    text_lines: int = 0  # lines inside a framed-text piece (a diagram's box, a mosaic's labelled cells)
    wordy: bool = False  # framed text with a sentence or code in it (a note): can seed a figure, never join one


def _raster_candidates(page: pymupdf.Page, placed: list[dict[str, Any]] | None = None) -> list[_Candidate]:
    out = []
    whole = page_box(page)
    page_area = whole.get_area()
    for info in page.get_image_info() if placed is None else placed:
        r = pymupdf.Rect(info["bbox"]) & whole
        if r.is_empty or min(r.width, r.height) < MIN_SIDE or r.get_area() < MIN_AREA:
            continue
        if r.get_area() >= BACKGROUND_SHARE * page_area or min(info["width"], info["height"]) < 8:
            continue  # a scan's page image, or a 1x1 pixel stretched into a coloured box
        out.append(_Candidate(r, raster=True))
    return out


def _vector_candidates(page: pymupdf.Page) -> tuple[list[_Candidate], list[_Candidate]]:
    """Clusters of visible paths: PyMuPDF's `cluster_drawings` rule (items within 3 pt join, the grown
    box keeps absorbing), computed on a grid because `cluster_drawings` compares every pair (5 s for
    3,000 separate marks, such as text drawn as outlines). Clusters no wider or taller than 3 pt (rules)
    come back apart: only a caption's zone takes them in (the baselines of an association plot)."""
    page_area = page.rect.get_area()
    paths = [p for p in _clipped_drawings(page) if visible(p)
             and not (len(p["items"]) <= 4 and p["rect"].get_area() >= FURNITURE_SHARE * page_area)]
    groups = _closure([p["rect"] for p in paths], CLUSTER_TOLERANCE)
    out: list[_Candidate] = []
    rules: list[_Candidate] = []
    for rect, members in groups:
        thin = rect.width <= CLUSTER_TOLERANCE or rect.height <= CLUSTER_TOLERANCE
        (rules if thin else out).append(_Candidate(rect, raster=False, paths=[paths[i] for i in members]))
    return out, rules


def _clipped_drawings(page: pymupdf.Page) -> list[dict[str, Any]]:
    """The page's drawing paths, each `rect` cut to the clip it is drawn in: a plot clips its data lines
    to the plot area, and the unclipped box of a line that leaves the axes can reach over the caption."""
    out = []
    scissors: list[pymupdf.Rect | None] = []
    for d in page.get_drawings(extended=True):
        level = d.get("level", 0)
        clip = scissors[level - 1] if 0 < level <= len(scissors) else None
        if d["type"] in ("clip", "group"):
            del scissors[level:]
            scissors.append(pymupdf.Rect(d["scissor"]) & clip if d["type"] == "clip" and clip is not None
                            else pymupdf.Rect(d["scissor"]) if d["type"] == "clip" else clip)
            continue
        r = d["rect"]
        if clip is not None and (r.x0 < clip.x0 or r.y0 < clip.y0 or r.x1 > clip.x1 or r.y1 > clip.y1):
            cut = _intersect(r, clip)
            if cut is None:
                continue  # drawn wholly outside its clip: never seen
            d = {**d, "rect": cut}
        out.append(d)
    return out


def _intersect(a: pymupdf.Rect, b: pymupdf.Rect) -> pymupdf.Rect | None:
    """The overlap of two boxes, keeping a straight rule's zero width or height (PyMuPDF's `&` calls
    such a box empty); None where they do not meet."""
    x0, y0, x1, y1 = max(a.x0, b.x0), max(a.y0, b.y0), min(a.x1, b.x1), min(a.y1, b.y1)
    return pymupdf.Rect(x0, y0, x1, y1) if x0 <= x1 and y0 <= y1 else None


def _union(a: pymupdf.Rect, b: pymupdf.Rect) -> pymupdf.Rect:
    """Bounding box of two boxes. Not `a | b`: PyMuPDF ignores an empty box there, and a straight
    rule's box (an axis, a table line) has no width or no height."""
    return pymupdf.Rect(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))


def _gap(a: pymupdf.Rect, b: pymupdf.Rect) -> float:
    return max(a.x0 - b.x1, b.x0 - a.x1, a.y0 - b.y1, b.y0 - a.y1, 0.0)


def _closure(rects: list[pymupdf.Rect], gap: float) -> list[tuple[pymupdf.Rect, list[int]]]:
    """Groups of rectangles joined while any two group boxes lie within `gap` of each other, as
    (group box, member indices). Neighbours are looked up in a grid of cells, each cell keeping its
    boxes by group, so a box is compared with one box of its own group at most: a mesh plot of 16,000
    overlapping paths stays linear (testing every box in a cell took 3 s)."""
    # boxes whose top-left corners share a `gap`-sized square lie within `gap` of each other: join them
    # first, so 50,000 dots of a sparsity plot come in as a few thousand boxes
    corner: dict[tuple[int, int], int] = {}
    boxes: list[tuple[float, float, float, float]] = []
    members: list[list[int]] = []
    for i, r in enumerate(rects):
        r = pymupdf.Rect(r).normalize()
        key = (int(r.x0 // gap), int(r.y0 // gap)) if gap > 0 else (i, 0)
        n = corner.get(key)
        if n is None:
            corner[key] = len(boxes)
            boxes.append((r.x0, r.y0, r.x1, r.y1))
            members.append([i])
        else:
            o = boxes[n]
            boxes[n] = (min(o[0], r.x0), min(o[1], r.y0), max(o[2], r.x1), max(o[3], r.y1))
            members[n].append(i)
    while True:
        parent = list(range(len(boxes)))

        def root(i: int, parent: list[int] = parent) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        cells: dict[tuple[int, int], dict[int, list[int]]] = {}
        joined = False
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            seen: set[int] = set()
            for gx in range(int((x0 - gap) // _CELL), int((x1 + gap) // _CELL) + 1):
                for gy in range(int((y0 - gap) // _CELL), int((y1 + gap) // _CELL) + 1):
                    bucket = cells.setdefault((gx, gy), {})
                    for key in list(bucket):
                        k = root(key)
                        if k != key:  # groups joined since: file the boxes under the group's root
                            bucket.setdefault(k, []).extend(bucket.pop(key))
                        if k == root(i):
                            continue
                        for j in bucket[k]:
                            if j in seen:
                                continue
                            seen.add(j)
                            b = boxes[j]
                            if max(x0 - b[2], b[0] - x1, y0 - b[3], b[1] - y1) <= gap:
                                parent[root(i)] = k
                                joined = True
                                break
                    bucket.setdefault(root(i), []).append(i)
        if not joined:
            return [(pymupdf.Rect(b), m) for b, m in zip(boxes, members, strict=True)]
        merged: dict[int, int] = {}
        new_boxes: list[tuple[float, float, float, float]] = []
        new_members: list[list[int]] = []
        for i, b in enumerate(boxes):
            k = root(i)
            if k in merged:
                n = merged[k]
                o = new_boxes[n]
                new_boxes[n] = (min(o[0], b[0]), min(o[1], b[1]), max(o[2], b[2]), max(o[3], b[3]))
                new_members[n] += members[i]
            else:
                merged[k] = len(new_boxes)
                new_boxes.append(b)
                new_members.append(list(members[i]))
        boxes, members = new_boxes, new_members


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
    if any(ln.block.paragraph for ln in inside):
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

def find_figures(page: pymupdf.Page, tables: bool = True, text: dict[str, Any] | None = None,
                 placed: list[dict[str, Any]] | None = None) -> list[FigureRegion]:
    """Every figure on the page (raster images, vector line-art, or both) with its caption and inner text.

    Ruled tables come back only when captioned as tables (`is_table_caption`), and not at all with
    `tables=False`; a grid captioned as a figure (a mosaic plot, a panel layout) is a figure.
    Regions are sorted top to bottom, then left to right. `text`: the page's `get_text("dict")` with
    `TEXT_FLAGS` when the caller has it already (one extraction shared with the text layer's lines);
    `placed`: its `get_image_info()`, likewise.
    """
    blocks = _text_blocks(page, text)
    free = [ln for b in blocks if not b.label and not b.prose for ln in b.lines]
    found: list[_Candidate] = []
    satellites: list[_Candidate] = []
    vector, loose = _vector_candidates(page)
    for r in loose:
        r.thin = True
    for c in _merge(_raster_candidates(page, placed) + vector, MERGE_GAP):
        inside = [ln for b in blocks for ln in b.lines if _centre_in(ln.rect, c.rect)]
        if c.paths and not c.raster:
            feats = vector_features(c.paths, c.rect, [ln.rect for ln in inside], [ln.text for ln in inside])
            if _is_textbox(feats, inside) or (feats["fills"] == 0 and feats["interior"] == 0):
                # text in a frame, or an empty frame: not a figure of its own, but a figure caption's
                # zone may take it in (a diagram of labelled boxes); a framed paragraph never
                if not any(ln.block.paragraph for ln in inside):
                    wordy = any(ln.words > 4 or ln.text.rstrip()[-1:] in ".:;" for ln in inside)
                    loose.append(_Candidate(c.rect, False, c.paths, text_lines=len(inside), wordy=wordy))
                continue
            c.table = is_table(feats)
        small = min(c.rect.width, c.rect.height) < MIN_SIDE or c.rect.get_area() < MIN_AREA
        (satellites if small else found).append(_Candidate(_hug(c.rect, free), c.raster, c.paths, c.table))
    # small marks (legend swatches, a key, an arrow) join the figure they sit next to, or stay loose
    for s in satellites:
        near = [c for c in found if _gap(s.rect, c.rect) <= SATELLITE_GAP]
        if near:
            target = min(near, key=lambda c: _gap(s.rect, c.rect))
            target.rect = _union(target.rect, s.rect)
            target.paths = target.paths + s.paths
        else:
            loose.append(s)
    # hugging and satellites can make neighbours touch (two panels sharing labels): join those
    cands = [c for c in _merge(found, 0.0) if not _mostly_prose(c, blocks)]
    stops = _stop_lines(blocks, cands + loose)
    captions = _assign_captions(cands, blocks, stops)
    cands, captions = _join_panels(cands, captions)
    cands, captions = _fill_zones(cands, captions, blocks, loose, stops, free)
    cands, captions = _sideways(cands, captions, blocks)
    regions = []
    for i, c in enumerate(cands):
        cap = captions.get(i)
        is_table_cap = bool(cap and cap.label[0] in "Tt表")
        if c.table and (not cap or (is_table_cap and not tables)):
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
    return any(b.paragraph and (b.rect & c.rect).get_area() >= 0.5 * b.rect.get_area() for b in blocks)


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
    """The x-range of the text column a block sits in: that of the widest run of text starting flush with
    it or spanning it (a Texinfo caption sits at the margin, its body text indented, its code narrow)."""
    r = block.rect
    col = [b for b in blocks
           if b.prose and (abs(b.rect.x0 - r.x0) <= 3 or b.rect.x0 - 3 <= r.x0 and r.x1 <= b.rect.x1 + 3)]
    if not col:
        return r.x0, r.x1
    wide = max(col, key=lambda b: (b.rect.width, -max(b.rect.y0 - r.y1, r.y0 - b.rect.y1)))
    return min(wide.rect.x0, r.x0), max(wide.rect.x1, r.x1)


def _is_figure_label(label: str) -> bool:
    return bool(label) and label[0] not in "Tt表"


def _stop_lines(blocks: list[_Block], pieces: list[_Candidate]) -> list[_Line]:
    """Text lines a figure never reaches across or takes in: paragraphs and code, captions, and lines too
    long for a label, unless they lie inside drawn ink (a diagram's own words)."""
    out = []
    for b in blocks:
        for ln in b.lines:
            long = b.prose or b.label or ln.words > HUG_MAX_WORDS
            if long and not any(_centre_in(ln.rect, c.rect) for c in pieces):
                out.append(ln)
    return out


def _between(stops: list[_Line], a: pymupdf.Rect, b: pymupdf.Rect, skip: _Block | None = None) -> bool:
    """Whether a stop line lies in the band between two vertically apart boxes, overlapping both's x-range."""
    lo, hi = (a.y1, b.y0) if a.y1 <= b.y0 + 3 else (b.y1, a.y0)
    x0, x1 = max(a.x0, b.x0), min(a.x1, b.x1)
    if x1 <= x0:
        x0, x1 = min(a.x0, b.x0), max(a.x1, b.x1)
    return any(ln.block is not skip and ln.rect.y0 >= lo - 2 and ln.rect.y1 <= hi + 2
               and min(x1, ln.rect.x1) > max(x0, ln.rect.x0) for ln in stops)


def _assign_captions(cands: list[_Candidate], blocks: list[_Block], stops: list[_Line]) -> dict[int, _Block]:
    """Pair regions with caption blocks: as many pairs as can be made, each caption's nearest first.

    A figure caption may sit up to `FAR_CAPTION_GAP` from the ink when only white space lies between
    (an R or MATLAB plot carries its own wide margin); the most pairs wins over the nearest pair, so a
    caption between two figures goes to the one that has no other caption."""
    edges: dict[int, list[tuple[float, int]]] = {}
    for i, c in enumerate(cands):
        r = c.rect
        for k, b in enumerate(blocks):
            if not b.label or b.sideways:
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
            limit = FAR_CAPTION_GAP if _is_figure_label(b.label) else CAPTION_GAP
            if -3 <= below <= limit:
                gap, lo, hi = below, r.y1, b.rect.y0
            elif -3 <= above <= limit:
                gap, lo, hi = above + 2, b.rect.y1, r.y0  # ties go to the caption below
            else:
                continue
            if any(o is not b and o.prose and o.rect.y0 >= lo - 1 and o.rect.y1 <= hi + 1
                   and min(r.x1, o.rect.x1) > max(r.x0, o.rect.x0) for o in blocks):
                continue  # a paragraph between them: the caption belongs to something else
            if gap > CAPTION_GAP and _between(stops, r, b.rect, skip=b):
                continue
            kind_mismatch = (b.label[0] in "Tt表") != c.table
            edges.setdefault(k, []).append((gap + 20 * kind_mismatch + 10 * shortfall, i))
    return {i: blocks[k] for i, k in _match(edges).items()}


def _match(edges: dict[int, list[tuple[float, int]]]) -> dict[int, int]:
    """A maximum matching of captions to regions (augmenting paths), each caption trying its nearest
    region first and captions with the nearest best region going first: region -> caption."""
    owner: dict[int, int] = {}

    def assign(k: int, seen: set[int]) -> bool:
        for _, i in sorted(edges[k]):
            if i not in seen:
                seen.add(i)
                if i not in owner or assign(owner[i], seen):
                    owner[i] = k
                    return True
        return False

    for k in sorted(edges, key=lambda k: (min(edges[k]), k)):
        assign(k, set())
    return owner


def _fill_zones(cands: list[_Candidate], captions: dict[int, _Block], blocks: list[_Block], loose: list[_Candidate],
                stops: list[_Line], free: list[_Line]) -> tuple[list[_Candidate], dict[int, _Block]]:
    """Complete each figure from its caption's zone, the column strip on the figure's side of the caption
    up to the nearest stop line: a captioned figure takes in the uncaptioned pieces there (the panels of a
    grid, the rows of an association plot, a diagram beside a plot), and a figure caption left without a
    figure takes the nearest ink there (a grid, a diagram of labelled boxes) and grows the same way."""
    figure_caps = [b for b in blocks if _is_figure_label(b.label) and not b.sideways]
    if not figure_caps:
        return cands, captions
    owned = {id(b): i for i, b in captions.items()}
    pool = [c for i, c in enumerate(cands) if i not in captions] + loose
    done: list[tuple[_Candidate, _Block]] = []
    for b in sorted(figure_caps, key=lambda b: id(b) not in owned):
        cols = _column(b, blocks)
        if id(b) in owned:
            seed = cands[owned[id(b)]]
            up = seed.rect.y1 <= b.rect.y0 + 3
            if not up and seed.rect.y0 < b.rect.y1 - 3:
                done.append((seed, b))
                continue
        else:
            found = _seed(b, cols, pool, stops)
            if found is None:
                continue
            seed, up = found
            pool.remove(seed)
        grown = _grow(seed, b, up, cols, pool, stops)
        if grown is not seed:
            grown.rect = _hug(grown.rect, free)
        if id(b) in owned or (min(grown.rect.width, grown.rect.height) >= MIN_SIDE
                              and grown.rect.get_area() >= MIN_AREA and not _mostly_prose(grown, blocks)):
            done.append((grown, b))
    done += [(cands[i], b) for i, b in captions.items() if not _is_figure_label(b.label)]  # tables stay as paired
    kept = [c for c in pool if c in cands]
    return [c for c, _ in done] + kept, {i: b for i, (_, b) in enumerate(done)}


def _inside(r: pymupdf.Rect, box: pymupdf.Rect, tol: float = 3.0) -> bool:
    return r.x0 >= box.x0 - tol and r.y0 >= box.y0 - tol and r.x1 <= box.x1 + tol and r.y1 <= box.y1 + tol


def _sideways(cands: list[_Candidate], captions: dict[int, _Block],
              blocks: list[_Block]) -> tuple[list[_Candidate], dict[int, _Block]]:
    """A figure turned a quarter on its page (a wide plot in a portrait manual) has its caption turned
    too, standing beside it: the uncaptioned pieces in the caption's height on its nearer side, each
    within `GROW_GAP` of the next, are that figure."""
    for b in blocks:
        if not (b.sideways and _is_figure_label(b.label)) or any(c is b for c in captions.values()):
            continue
        r = b.rect
        free = [i for i, c in enumerate(cands) if i not in captions
                and min(r.y1, c.rect.y1) - max(r.y0, c.rect.y0) >= 0.5 * min(r.height, c.rect.height)]
        best: list[int] = []
        for left in (True, False):
            side = sorted((i for i in free if (cands[i].rect.x1 <= r.x0 + 3 if left else cands[i].rect.x0 >= r.x1 - 3)),
                          key=lambda i: abs(cands[i].rect.x1 - r.x0) if left else abs(cands[i].rect.x0 - r.x1))
            chain: list[int] = []
            edge = r.x0 if left else r.x1
            for i in side:
                gap = edge - cands[i].rect.x1 if left else cands[i].rect.x0 - edge
                if gap > (FAR_CAPTION_GAP if not chain else GROW_GAP):
                    break
                chain.append(i)
                edge = min(edge, cands[i].rect.x0) if left else max(edge, cands[i].rect.x1)
            if chain and (not best or len(chain) > len(best)):
                best = chain
        if best:
            parts = [cands[i] for i in best]
            box = parts[0].rect
            for c in parts[1:]:
                box = _union(box, c.rect)
            joined = _Candidate(box, any(c.raster for c in parts), [q for c in parts for q in c.paths])
            keep = [i for i in range(len(cands)) if i not in best]
            captions = {n: captions[i] for n, i in enumerate(keep) if i in captions} | {len(keep): b}
            cands = [cands[i] for i in keep] + [joined]
    return cands, captions


def _in_zone(r: pymupdf.Rect, cap: pymupdf.Rect, up: bool, cols: tuple[float, float]) -> bool:
    side = r.y1 <= cap.y0 + 3 if up else r.y0 >= cap.y1 - 3
    return side and min(r.x1, cols[1]) > max(r.x0, cols[0])


def _seed(b: _Block, cols: tuple[float, float], pool: list[_Candidate],
          stops: list[_Line]) -> tuple[_Candidate, bool] | None:
    """The piece nearest a figure caption without a figure, in its zone above or below (within
    `FAR_CAPTION_GAP`, no stop line between; framed text and rules count a little farther)."""
    best: tuple[float, _Candidate, bool] | None = None
    for c in pool:
        if c.thin:
            continue
        for up in (True, False):
            if not _in_zone(c.rect, b.rect, up, cols):
                continue
            d = b.rect.y0 - c.rect.y1 if up else c.rect.y0 - b.rect.y1
            d = max(d, 0.0) + (0 if up else 2) + (10 if c.text_lines or not (c.paths or c.raster) else 0)
            if d <= FAR_CAPTION_GAP and not _between(stops, c.rect, b.rect, skip=b) and (best is None or d < best[0]):
                best = (d, c, up)
    return (best[1], best[2]) if best else None


def _grow(seed: _Candidate, b: _Block, up: bool, cols: tuple[float, float], pool: list[_Candidate],
          stops: list[_Line]) -> _Candidate:
    """Take in the pieces of the caption's zone within `GROW_GAP` of the figure, repeatedly, unless that
    would reach over a stop line. Takes them out of `pool`; returns `seed` itself when nothing joined."""
    region = pymupdf.Rect(seed.rect)
    taken: list[_Candidate] = []
    near = [c for c in pool if not c.wordy and _in_zone(c.rect, b.rect, up, cols)]
    while near:
        grown = []
        for c in near:
            r = c.rect
            if _gap(r, region) > GROW_GAP or (c.thin and not _inside(r, region)):
                continue  # too far; a rule only fills in (a page-wide rule above a figure is the header's)
            if c.raster and min(r.y1, region.y1) - max(r.y0, region.y0) < 0.5 * min(r.height, region.height):
                continue  # a picture set above or below is a figure of its own; beside, it is a panel
            u = _union(region, r)
            if any(_centre_in(ln.rect, u) for ln in stops if ln.block is not b) or _union(u, b.rect) == u:
                continue
            region = u
            grown.append(c)
        if not grown:
            break
        taken += grown
        near = [c for c in near if c not in grown]
    if not taken:
        return seed
    for c in taken:
        pool.remove(c)
    parts = [seed, *taken]
    return _Candidate(region, any(c.raster for c in parts), [p for c in parts for p in c.paths], seed.table)
