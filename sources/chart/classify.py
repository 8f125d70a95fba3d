"""What kind of figure a region is: bar, line, scatter, pie, other_chart, diagram, photo or table.

The PDF source pairs each figure with a kind, so charts can be routed to chart-specific prompts and
the taxonomy can count them. The label comes from a transparent rule set, not a model, so every
decision can be traced to the feature that made it (all features are returned as scores):

Vector figures (the page is given and line-art covers the region) are read from their drawing
paths, split into connected pieces (one path often holds every marker of a series), in this order:
  table    straight rules only, >= 3 full-width and >= 2 full-height ones, text covering >= 8% of the
           area (or an empty unfilled grid of >= 2 columns; or a "Table N" caption and >= 5% text);
  pie      >= 2 large filled curved pieces in a roughly square union, each with a corner at its centre
           (pie wedges) or with its arc ends on one or two radii around it (donut segments);
  bar      >= 3 filled rectangles sharing a baseline (bottom, top or left edge), the longest >= 15%
           of the region, whose lengths differ (or which sit in a chart frame);
  line     an open stroked piece of >= 2 sloped or curved segments, spanning >= 20% of the width,
           in which no point joins three strokes (a tree's branches do);
  diagram  >= 2 closed boxes (or ovals) with text inside and no chart frame;
  scatter  >= 6 small closed markers;
  other_chart  a chart frame (>= 3 numeric labels, or long perpendicular axes with >= 3 ticks)
           without any of the marks above; anything else is a diagram.
Rasters, mostly-raster "mixed" regions, and any region classified without its page are read from
the crop's pixels:
  photo    the commonest colour covers < 25% of pixels and there are >= 300 distinct colours;
  table    >= 3 long horizontal and >= 2 long vertical grey/black rules, little colour;
  pie/bar/line/scatter from the connected components of saturated pixels (charts draw data in
           colour and furniture in black/grey): big round non-rectangular blobs -> pie; >= 3
           rectangles on a shared baseline -> bar; long thin strokes (coloured, or black/grey once
           the rows and columns of axes and gridlines are removed) -> line; many small dots -> scatter;
  other_chart long perpendicular black rules (axes); otherwise diagram on a flat background, else photo.
Measured accuracy on the generated evaluation set: see `sources/chart/figure_eval.py`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pymupdf

from pipelines import images

if TYPE_CHECKING:
    from sources.chart.extract import FigureRegion

LABELS = ("bar", "line", "scatter", "pie", "other_chart", "diagram", "photo", "table")
CHART_LABELS = frozenset({"bar", "line", "scatter", "pie", "other_chart"})
RASTER_MAX_SIDE = 640  # pixels; larger crops are subsampled before the pixel statistics
_NUMERIC = re.compile(r"^[(\[]?[-−–+]?[$€£¥]?\d[\d,.\s']*[%‰kKmMbB°]?[)\]]?[,;]?$")


def chart_kind(label: str) -> str:
    """Map a figure label to the sample kind the PDF source emits: "chart" for data plots, else "figure"."""
    return "chart" if label in CHART_LABELS else "figure"


def classify_figure(png: bytes, region: FigureRegion, page: pymupdf.Page | None = None,
                    placed: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, float]]:
    """Label a found figure and return the features behind the label.

    With the page, line-art is classified from its drawing paths (exact geometry, no rendering
    noise); rasters, mostly-raster "mixed" regions, and any region classified without its page are
    classified from the PNG crop. `placed`: the page's `get_image_info()`, when the caller has it.
    """
    box = pymupdf.Rect(region.bbox)
    if page is not None and region.origin != "raster":
        paths = [p for p in page.get_drawings() if visible(p) and _inside(p["rect"], box)]
        words = page.get_text("words", clip=box)
        feats = vector_features(paths, box, [pymupdf.Rect(w[:4]) for w in words], [w[4] for w in words])
        placed = page.get_image_info() if placed is None else placed
        raster_area = sum((pymupdf.Rect(i["bbox"]) & box).get_area() for i in placed)
        if region.origin == "vector" or raster_area < 0.6 * box.get_area():
            return _vector_label(feats, region.is_table_caption), feats
    return classify_raster(png)


def classify_raster(png: bytes) -> tuple[str, dict[str, float]]:
    """Label a figure from its pixels alone (a screenshot's SVG or canvas chart has no PDF drawing paths)."""
    feats = raster_features(png)
    return _raster_label(feats), feats


# -- drawing paths ----------------------------------------------------------------------------------

def is_white(colour: Any) -> bool:
    """True for a colour indistinguishable from paper (drawn in white, it is invisible on the page)."""
    return colour is not None and len(colour) >= 3 and min(colour[:3]) >= 0.97


def visible(path: dict[str, Any]) -> bool:
    """Whether a drawing path leaves ink on a white page (white fills and strokes do not)."""
    fill, colour = path.get("fill"), path.get("color")
    filled = fill is not None and (path.get("fill_opacity") or 1) > 0 and not is_white(fill)
    stroked = (colour is not None and path.get("type") != "f" and (path.get("stroke_opacity") or 1) > 0
               and not is_white(colour))
    return filled or stroked


def _inside(r: pymupdf.Rect, box: pymupdf.Rect, tol: float = 2.0) -> bool:
    return r.x0 >= box.x0 - tol and r.y0 >= box.y0 - tol and r.x1 <= box.x1 + tol and r.y1 <= box.y1 + tol


def _chains(items: list[tuple]) -> list[list[tuple]]:
    """Split a path into its connected pieces: one path often holds many marks (every marker of a
    series), and PyMuPDF may list a piece's items out of order, so pieces are joined by shared ends."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[int, int], int] = {}
    for i, it in enumerate(items):
        if it[0] in ("re", "qu"):
            continue  # a rectangle is a closed piece of its own
        for pt in (it[1], it[-1]):
            key = (round(pt.x * 2), round(pt.y * 2))
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    pieces: dict[int, list[tuple]] = {}
    for i, it in enumerate(items):
        pieces.setdefault(root(i), []).append(it)
    return list(pieces.values())


def _segments(item: tuple) -> list[tuple[pymupdf.Point, pymupdf.Point]]:
    kind = item[0]
    if kind == "l":
        return [(item[1], item[2])]
    if kind == "re":
        r = item[1]
        return [(r.tl, r.tr), (r.tr, r.br), (r.br, r.bl), (r.bl, r.tl)]
    if kind == "qu":
        q = item[1]
        return [(q.ul, q.ur), (q.ur, q.lr), (q.lr, q.ll), (q.ll, q.ul)]
    return []


def _degrees(chain: list[tuple]) -> list[int]:
    """How many items of a piece meet at each of its end points."""
    ends: dict[tuple[int, int], int] = {}
    for it in chain:
        for pt in (it[1], it[-1]):
            key = (round(pt.x * 2), round(pt.y * 2))
            ends[key] = ends.get(key, 0) + 1
    return list(ends.values())


def _chain_rect(chain: list[tuple]) -> pymupdf.Rect:
    if chain[0][0] == "re":
        return pymupdf.Rect(chain[0][1])
    if chain[0][0] == "qu":
        return chain[0][1].rect
    pts = [pt for it in chain for pt in it[1:]]
    return pymupdf.Rect(min(p.x for p in pts), min(p.y for p in pts), max(p.x for p in pts), max(p.y for p in pts))


def _merged_lengths(segs: dict[int, list[tuple[float, float]]]) -> dict[int, float]:
    """Per rounded coordinate, the longest run of touching collinear intervals (rules made of pieces)."""
    out = {}
    for key, spans in segs.items():
        spans.sort()
        best, lo, hi = 0.0, *spans[0]
        for a, b in spans[1:]:
            if a <= hi + 1.0:
                hi = max(hi, b)
            else:
                best, lo, hi = max(best, hi - lo), a, b
        out[key] = max(best, hi - lo)
    return out


def vector_features(paths: list[dict[str, Any]], box: pymupdf.Rect, text_rects: list[pymupdf.Rect],
                    texts: list[str]) -> dict[str, float]:
    """Geometry counts of the line-art inside `box`, per subpath (see the module docstring for their use)."""
    w, h = max(box.width, 1.0), max(box.height, 1.0)
    hsegs: dict[int, list[tuple[float, float]]] = {}
    vsegs: dict[int, list[tuple[float, float]]] = {}
    c = dict.fromkeys(("curves", "sloped", "ticks", "polylines", "markers", "fills", "interior"), 0)
    bars: list[pymupdf.Rect] = []
    wedges: list[tuple[pymupdf.Rect, list[pymupdf.Point], list[pymupdf.Point]]] = []
    boxes: list[pymupdf.Rect] = []
    marker_max = max(12.0, 0.04 * max(w, h))
    for p in paths:
        filled = p.get("fill") is not None and not is_white(p["fill"])
        stroked = p.get("color") is not None and p.get("type") != "f"
        chains = _chains(p["items"])
        for chain in chains:
            n_curves = sum(1 for it in chain if it[0] == "c")
            segs = [s for it in chain for s in _segments(it)]
            n_sloped = 0
            for a, b in segs:
                dx, dy = abs(b.x - a.x), abs(b.y - a.y)
                length = math.hypot(dx, dy)
                short = len(segs) == 1 and 1.5 <= length <= 8 and not filled
                if length < 0.5:
                    continue
                if dy <= max(0.5, 0.02 * length):
                    hsegs.setdefault(round((a.y + b.y) / 2), []).append((min(a.x, b.x), max(a.x, b.x)))
                    c["ticks"] += short
                    c["interior"] += min(abs(a.y - box.y0), abs(a.y - box.y1)) > 1.5
                elif dx <= max(0.5, 0.02 * length):
                    vsegs.setdefault(round((a.x + b.x) / 2), []).append((min(a.y, b.y), max(a.y, b.y)))
                    c["ticks"] += short
                    c["interior"] += min(abs(a.x - box.x0), abs(a.x - box.x1)) > 1.5
                else:
                    n_sloped += 1
                    c["interior"] += 1
            c["curves"] += n_curves
            c["sloped"] += n_sloped
            c["interior"] += n_curves
            r = _chain_rect(chain)
            size = max(r.width, r.height)
            box_item = chain[0][0] in ("re", "qu")
            degrees = [] if box_item else _degrees(chain)
            ends_meet = len(chain) >= 2 and all(n % 2 == 0 for n in degrees)
            closed = box_item or ends_meet or filled or (bool(p.get("closePath")) and len(chains) == 1)
            rect_like = n_curves == 0 and n_sloped == 0 and (box_item or (closed and 3 <= len(segs) <= 5))
            if rect_like and filled and min(r.width, r.height) >= 1.5 and r.get_area() < 0.5 * w * h:
                bars.append(r)
            # a data series is a simple path (no vertex joins three strokes, unlike a tree's branches)
            if not closed and stroked and n_sloped + n_curves >= 2 and size >= 0.2 * w and max(degrees) <= 2:
                c["polylines"] += 1
            c["fills"] += filled
            if closed and 1.5 <= size <= marker_max and len(segs) + n_curves >= 2 and (filled or not rect_like):
                c["markers"] += 1
            if filled and n_curves and size >= max(15.0, 0.1 * min(w, h)):
                wedges.append((r, [pt for it in chain if it[0] == "l" for pt in it[1:]],
                               [pt for it in chain if it[0] == "c" for pt in (it[1], it[4])]))
            if closed and min(r.width, r.height) >= 12 and r.get_area() < 0.6 * w * h and (rect_like or n_curves):
                boxes.append(r)
    hlong, vlong = _merged_lengths(hsegs), _merged_lengths(vsegs)
    inside_text = [t for t in text_rects if box.contains((t.tl + t.br) / 2)]
    text_area = sum(t.get_area() for t in inside_text)
    numeric = sum(1 for t in texts if _NUMERIC.match(t.strip()))
    text_boxes = sum(1 for b in boxes if any(b.contains((t.tl + t.br) / 2) for t in inside_text))
    bar_group, bar_varied = _bar_group(bars, w, h)
    return {
        "paths": float(len(paths)), **{k: float(v) for k, v in c.items()},
        "h_rules": float(sum(1 for v in hlong.values() if v >= 0.8 * w)),
        "v_rules": float(sum(1 for v in vlong.values() if v >= 0.8 * h)),
        "axes": float(any(v >= 0.5 * w for v in hlong.values()) and any(v >= 0.5 * h for v in vlong.values())),
        "numeric_labels": float(numeric), "text_cover": text_area / (w * h), "text_lines": float(len(inside_text)),
        "bars": float(bar_group), "bars_varied": float(bar_varied), "wedges": float(_wedges(wedges)),
        "text_boxes": float(text_boxes),
    }


def _bar_group(bars: list[pymupdf.Rect], w: float, h: float) -> tuple[int, bool]:
    """Largest set of filled rectangles on one baseline (bottom, top or left edge), and whether their
    lengths differ (equal boxes in a row are a diagram or legend, bars encode different values)."""
    best, varied = 0, False
    for edge, length, along in (("y1", "height", h), ("y0", "height", h), ("x0", "width", w)):
        groups: dict[int, list[pymupdf.Rect]] = {}
        for r in bars:
            groups.setdefault(round(getattr(r, edge)), []).append(r)
        for group in groups.values():
            sizes = [getattr(r, length) for r in group]
            if len(group) >= 3 and max(sizes) >= 0.15 * along and len(group) > best:
                best, varied = len(group), max(sizes) - min(sizes) > 1.0
    return best, varied


def _wedges(fills: list[tuple[pymupdf.Rect, list[pymupdf.Point], list[pymupdf.Point]]]) -> int:
    """How many large curved fills are slices around the centre of their roughly square union: pie
    wedges have a corner at the centre, donut segments have their arc ends on one or two radii."""
    if len(fills) < 2:
        return 0
    union = pymupdf.Rect(min(f[0].x0 for f in fills), min(f[0].y0 for f in fills),
                         max(f[0].x1 for f in fills), max(f[0].y1 for f in fills))
    if not 0.7 <= union.width / max(union.height, 1e-6) <= 1.45:
        return 0
    centre = (union.tl + union.br) / 2
    size = max(union.width, union.height)
    tol = 0.04 * size + 1

    def on_rings(ends: list[pymupdf.Point]) -> bool:
        radii = sorted(abs(pt - centre) for pt in ends)
        rings = 1 + sum(1 for a, b in zip(radii, radii[1:], strict=False) if b - a > tol)
        return bool(radii) and rings <= 2 and radii[0] >= 0.15 * size

    return sum(1 for _, corners, ends in fills if any(abs(pt - centre) <= tol for pt in corners) or on_rings(ends))


def is_table(f: dict[str, float]) -> bool:
    """Ruled table: straight rules only, forming a grid of >= 2 rows (>= 3 full-width and >= 2 full-height
    rules), with text in the cells, or an empty unfilled grid of >= 2 columns (a form)."""
    if f["curves"] or f["sloped"] or f["h_rules"] < 3 or f["v_rules"] < 2:
        return False
    return (f["text_lines"] >= 3 and f["text_cover"] >= 0.08) or (f["v_rules"] >= 3 and f["fills"] == 0)


def _vector_label(f: dict[str, float], table_caption: bool = False) -> str:
    chart_frame = f["numeric_labels"] >= 3 or (f["axes"] > 0 and f["ticks"] >= 3)
    if is_table(f) or (table_caption and f["curves"] == 0 and f["sloped"] == 0 and f["text_cover"] >= 0.05):
        return "table"
    if f["wedges"] >= 2:
        return "pie"
    if f["bars"] >= 3 and (f["bars_varied"] or chart_frame):
        return "bar"
    if f["polylines"] >= 1:
        return "line"
    if f["text_boxes"] >= 2 and not chart_frame:
        return "diagram"
    if f["markers"] >= 6:
        return "scatter"
    return "other_chart" if chart_frame else "diagram"


# -- pixels -----------------------------------------------------------------------------------------

def raster_features(png: bytes) -> dict[str, float]:
    """Pixel statistics of a figure crop: background share, colour count, and the shapes of its
    coloured components (the data marks of a chart) and long black/grey rules (axes, table lines)."""
    from scipy import ndimage  # a dependency of imagehash; imported here so finding figures never needs it

    # The crop's one decode is shared (pipelines.images): the image filter's and dedup's products of the
    # same figure are derived from it, so the chain after the source does not decode it again.
    a = images.view(png).sampled_rgb(RASTER_MAX_SIDE)
    hh, ww = a.shape[:2]
    n = hh * ww
    q = (a >> 3).astype(np.int32)
    packed = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    values, counts = np.unique(packed, return_counts=True)
    bg_value = values[np.argmax(counts)]
    bg = a[packed == bg_value].mean(axis=0)
    mx, mn = a.max(axis=2), a.min(axis=2)
    ink = np.abs(a - bg).max(axis=2) > 40
    colourful = ink & (mx - mn >= 60)
    rules = ink & ~colourful & (mx < 200)
    gx = np.abs(np.diff(a, axis=1)).max(axis=2)
    gy = np.abs(np.diff(a, axis=0)).max(axis=2)
    flat = ((gx[:-1, :] <= 6) & (gy[:, :-1] <= 6)).mean()
    row_runs, col_runs = rules.mean(axis=1), rules.mean(axis=0)
    # black/grey data lines: drop the rows and columns of axes, frames and gridlines, then look for
    # long thin strokes among what is left (text is short, so it never counts)
    marks = rules.copy()
    marks[row_runs >= 0.3, :] = False
    marks[:, col_runs >= 0.3] = False
    grey_lines = _thin_long(marks, ndimage)

    labels, count = ndimage.label(colourful, structure=np.ones((3, 3), bool))
    comps = []
    if count:
        areas = np.bincount(labels.ravel())
        for i, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None or areas[i] < max(6, 0.0002 * n):
                continue
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            comps.append((x0, y0, x1, y1, int(areas[i])))
    feats = {
        "bg_share": float(counts.max() / n), "colours": float(len(values)), "flat": float(flat),
        "colour_share": float(colourful.mean()),
        "h_lines": float(_runs(row_runs >= 0.5)), "v_lines": float(_runs(col_runs >= 0.5)),
        "h_rules": float(_runs(row_runs >= 0.8)), "v_rules": float(_runs(col_runs >= 0.8)),
        "grey_lines": float(grey_lines),
    }
    feats.update(_component_features(comps, ww, hh))
    return feats


def _thin_long(mask: np.ndarray, ndimage: Any) -> int:
    """Connected strokes spanning a quarter of the width (or height) while filling < 35% of their box."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if not count:
        return 0
    h, w = mask.shape
    areas = np.bincount(labels.ravel())
    found = 0
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        ch, cw = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        found += (cw >= 0.25 * w or ch >= 0.25 * h) and areas[i] < 0.35 * cw * ch
    return found


def _runs(mask: np.ndarray) -> int:
    """Number of separate runs of True (adjacent pixel rows of one thick rule count once)."""
    m = mask.astype(np.int8)
    return int(m[0] + np.count_nonzero(np.diff(m) == 1)) if m.size else 0


def _component_features(comps: list[tuple[int, int, int, int, int]], w: int, h: int) -> dict[str, float]:
    n = w * h
    rects, round_big, thin_long, dots = [], [], 0, 0
    for x0, y0, x1, y1, area in comps:
        cw, ch = x1 - x0, y1 - y0
        fill = area / (cw * ch)
        if fill >= 0.85 and min(cw, ch) >= 3:
            rects.append((x0, y0, x1, y1))
        elif area >= 0.005 * n and fill < 0.9 and min(cw, ch) >= 0.05 * min(w, h):
            round_big.append((x0, y0, x1, y1, area))
        if fill < 0.35 and (cw >= 0.25 * w or ch >= 0.25 * h):
            thin_long += 1
        elif fill >= 0.4 and max(cw, ch) <= 0.06 * max(w, h):
            dots += 1
    pie = 0.0
    if round_big:
        ux0, uy0 = min(c[0] for c in round_big), min(c[1] for c in round_big)
        ux1, uy1 = max(c[2] for c in round_big), max(c[3] for c in round_big)
        uw, uh = ux1 - ux0, uy1 - uy0
        ufill = sum(c[4] for c in round_big) / (uw * uh)
        if 0.75 <= uw / uh <= 1.33 and uw * uh >= 0.03 * n and 0.45 <= ufill <= 0.92:
            pie = ufill
    best, varied = 0, False
    for key, length, along in ((3, 1, h), (0, 0, w)):  # shared bottom (vertical bars), shared left (horizontal)
        groups: dict[int, list[tuple[int, int, int, int]]] = {}
        for r in rects:
            groups.setdefault(r[key] // 3, []).append(r)
        for g in groups.values():
            sizes = [r[2 + length] - r[length] for r in g]
            if len(g) >= 3 and max(sizes) >= 0.1 * along and len(g) > best:
                best, varied = len(g), max(sizes) > 1.1 * min(sizes)
    return {"pie": pie, "bars": float(best), "bars_varied": float(varied), "thin_long": float(thin_long),
            "dots": float(dots), "blobs": float(len(comps))}


def _raster_label(f: dict[str, float]) -> str:
    if f["bg_share"] < 0.25 and f["colours"] >= 300:
        return "photo"
    if f["h_rules"] >= 3 and f["v_rules"] >= 2 and f["colour_share"] < 0.05:
        return "table"
    if f["pie"] > 0:
        return "pie"
    if f["bars"] >= 3 and f["bars_varied"]:
        return "bar"
    if f["thin_long"] >= 1 or f["grey_lines"] >= 1:
        return "line"
    if f["dots"] >= 8:
        return "scatter"
    if f["h_lines"] >= 1 and f["v_lines"] >= 1:
        return "other_chart"
    return "diagram" if f["bg_share"] >= 0.5 else "photo"
