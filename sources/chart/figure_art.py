"""Figures with known content, drawn into a box on a PDF page, for the figure-extraction evaluation.

Each `draw_*` function draws one figure inside `box` and returns the figure's true bounding box: the
ink it left (for line-art, measured by rendering the box) or the rectangle the image was placed in
(for rasters). Line-art is drawn three ways, as real PDFs are: with PyMuPDF shapes, as matplotlib PDF
pages placed with `show_pdf_page`, and rasters as PNG/JPEG images (matplotlib charts, photo-like
noise, a Pillow diagram). Everything is seeded, so the evaluation set regenerates byte for byte.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pymupdf
from PIL import Image, ImageDraw, ImageFilter

Box = tuple[float, float, float, float]
PALETTE = [(0.20, 0.42, 0.68), (0.85, 0.37, 0.01), (0.46, 0.44, 0.70), (0.11, 0.62, 0.47),
           (0.90, 0.67, 0.01), (0.65, 0.46, 0.11)]


def ink_bbox(page: pymupdf.Page, box: pymupdf.Rect) -> Box:
    """The tight box of non-white pixels inside `box` (rendered at 144 dpi): a figure's true extent."""
    pix = page.get_pixmap(clip=box, dpi=144, colorspace=pymupdf.csGRAY, alpha=False)
    a = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.stride)[:, :pix.width]
    ys, xs = np.nonzero(a < 240)
    if not len(xs):
        raise ValueError(f"nothing was drawn in {box}")
    z = 2.0  # 144 / 72
    x0, y0 = pix.x, pix.y
    return (float(x0 + xs.min()) / z, float(y0 + ys.min()) / z, float(x0 + xs.max() + 1) / z,
            float(y0 + ys.max() + 1) / z)


def _axes(page: pymupdf.Page, shape: pymupdf.Shape, plot: pymupdf.Rect, top: float, steps: int = 4,
          font: str = "helv") -> None:
    """Left and bottom axes with numeric ticks 0..top on the left."""
    shape.draw_line(plot.bl, plot.tl)
    shape.draw_line(plot.bl, plot.br)
    for k in range(steps + 1):
        y = plot.y1 - plot.height * k / steps
        shape.draw_line((plot.x0 - 3, y), (plot.x0, y))
        value = top * k / steps
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
        page.insert_text((plot.x0 - 5 - 3.6 * len(text), y + 2.5), text, fontsize=7, fontname=font)
    shape.finish(color=(0, 0, 0), width=0.8, closePath=False)


def draw_bar(page: pymupdf.Page, box: pymupdf.Rect, rng: np.random.Generator, horizontal: bool = False,
             categories: list[str] | None = None, font: str = "helv") -> Box:
    """A bar chart drawn with PyMuPDF rectangles on axes with numeric ticks and category labels."""
    n = len(categories) if categories else int(rng.integers(4, 8))
    cats = categories or [f"{2018 + i}" for i in range(n)]
    values = rng.uniform(2, 10, n)
    plot = pymupdf.Rect(box.x0 + 34, box.y0 + 8, box.x1 - 8, box.y1 - 16)
    shape = page.new_shape()
    if horizontal:
        shape.draw_line(plot.tl, plot.bl)
        shape.draw_line(plot.bl, plot.br)
        for k in range(5):
            x = plot.x0 + plot.width * k / 4
            shape.draw_line((x, plot.y1), (x, plot.y1 + 3))
            page.insert_text((x - 3, plot.y1 + 11), f"{k * 3}", fontsize=7, fontname=font)
        shape.finish(color=(0, 0, 0), width=0.8, closePath=False)
        slot = plot.height / n
        for i, v in enumerate(values):
            y0 = plot.y0 + i * slot + slot * 0.2
            shape.draw_rect(pymupdf.Rect(plot.x0, y0, plot.x0 + plot.width * v / 12, y0 + slot * 0.6))
            shape.finish(color=None, fill=PALETTE[0])
            page.insert_text((box.x0 + 2, y0 + slot * 0.45), cats[i][:6], fontsize=7, fontname=font)
    else:
        _axes(page, shape, plot, 12)
        slot = plot.width / n
        for i, v in enumerate(values):
            x0 = plot.x0 + i * slot + slot * 0.2
            shape.draw_rect(pymupdf.Rect(x0, plot.y1 - plot.height * v / 12, x0 + slot * 0.6, plot.y1))
            shape.finish(color=None, fill=PALETTE[i % 2])
            page.insert_text((x0, plot.y1 + 10), cats[i], fontsize=7, fontname=font)
    shape.commit()
    return ink_bbox(page, box)


def draw_line(page: pymupdf.Page, box: pymupdf.Rect, rng: np.random.Generator, markers: bool = True,
              font: str = "helv") -> Box:
    """Two series as PyMuPDF polylines (open paths) with optional point markers and a legend."""
    plot = pymupdf.Rect(box.x0 + 30, box.y0 + 8, box.x1 - 8, box.y1 - 16)
    shape = page.new_shape()
    _axes(page, shape, plot, 40)
    n = 12
    for s, name in enumerate(("north", "south")):
        ys = np.clip(np.cumsum(rng.normal(0, 3, n)) + 14 + 10 * s, 2, 38)
        pts = [pymupdf.Point(plot.x0 + plot.width * i / (n - 1), plot.y1 - plot.height * v / 40)
               for i, v in enumerate(ys)]
        shape.draw_polyline(pts)
        shape.finish(color=PALETTE[s], width=1.4, closePath=False)
        if markers:
            for p in pts:
                shape.draw_circle(p, 1.8)
            shape.finish(color=None, fill=PALETTE[s])
        ly = plot.y0 + 6 + 10 * s
        shape.draw_line((plot.x1 - 60, ly), (plot.x1 - 48, ly))
        shape.finish(color=PALETTE[s], width=1.4, closePath=False)
        page.insert_text((plot.x1 - 44, ly + 2.5), name, fontsize=7, fontname=font)
    for i in range(0, n, 3):
        page.insert_text((plot.x0 + plot.width * i / (n - 1) - 4, plot.y1 + 10), f"M{i + 1}", fontsize=7)
    shape.commit()
    return ink_bbox(page, box)


def draw_scatter(page: pymupdf.Page, box: pymupdf.Rect, rng: np.random.Generator, n: int = 40) -> Box:
    """A scatter plot of `n` filled circles on axes with numeric ticks."""
    plot = pymupdf.Rect(box.x0 + 30, box.y0 + 8, box.x1 - 8, box.y1 - 16)
    shape = page.new_shape()
    _axes(page, shape, plot, 100, steps=5)
    xs = rng.uniform(0.05, 0.95, n)
    ys = np.clip(xs * 0.8 + rng.normal(0, 0.12, n), 0.03, 0.97)
    for x, y in zip(xs, ys, strict=True):
        shape.draw_circle((plot.x0 + plot.width * x, plot.y1 - plot.height * y), 2.2)
    shape.finish(color=None, fill=PALETTE[2])
    for k in range(5):
        page.insert_text((plot.x0 + plot.width * k / 4 - 4, plot.y1 + 10), f"{k * 5}", fontsize=7)
    shape.commit()
    return ink_bbox(page, box)


def draw_pie(page: pymupdf.Page, box: pymupdf.Rect, rng: np.random.Generator, names: list[str],
             font: str = "helv") -> Box:
    """A pie of PyMuPDF sectors (white separators) with a legend of swatches to its right."""
    shares = rng.dirichlet(np.ones(len(names)) * 3)
    radius = min(box.height / 2 - 4, box.width / 3)
    centre = pymupdf.Point(box.x0 + radius + 6, (box.y0 + box.y1) / 2)
    shape = page.new_shape()
    angle = -90.0
    for i, share in enumerate(shares):
        start = centre + (radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle)))
        shape.draw_sector(centre, start, -360 * share, fullSector=True)  # positive beta turns the other way
        shape.finish(color=(1, 1, 1), fill=PALETTE[i % len(PALETTE)], width=0.8)
        angle += 360 * share
    lx = centre.x + radius + 14
    for i, name in enumerate(names):
        y = centre.y - 8 * len(names) + 16 * i
        shape.draw_rect(pymupdf.Rect(lx, y, lx + 7, y + 7))
        shape.finish(color=None, fill=PALETTE[i % len(PALETTE)])
        page.insert_text((lx + 11, y + 6.5), name, fontsize=8, fontname=font)
    shape.commit()
    return ink_bbox(page, box)


def draw_diagram(page: pymupdf.Page, box: pymupdf.Rect, steps: list[str], font: str = "helv") -> Box:
    """A flow diagram: rounded boxes with a word or two each, joined left to right by arrows."""
    n = len(steps)
    gap = 22.0
    bw = (box.width - gap * (n - 1)) / n
    bh = min(34.0, box.height - 8)
    y0 = (box.y0 + box.y1 - bh) / 2
    shape = page.new_shape()
    for i, step in enumerate(steps):
        r = pymupdf.Rect(box.x0 + i * (bw + gap), y0, box.x0 + i * (bw + gap) + bw, y0 + bh)
        shape.draw_rect(r, radius=0.15)
        shape.finish(color=(0.1, 0.1, 0.1), fill=(0.93, 0.95, 1.0), width=0.9)
        page.insert_textbox(r + (2, bh / 2 - 6, -2, 0), step, fontsize=8, fontname=font,
                            align=pymupdf.TEXT_ALIGN_CENTER)
        if i + 1 < n:
            a, b = pymupdf.Point(r.x1 + 2, r.y0 + bh / 2), pymupdf.Point(r.x1 + gap - 3, r.y0 + bh / 2)
            shape.draw_line(a, b)
            shape.finish(color=(0.1, 0.1, 0.1), width=0.9, closePath=False)
            shape.draw_polyline([b + (1, 0), b + (-5, -3), b + (-5, 3)])
            shape.finish(color=None, fill=(0.1, 0.1, 0.1), closePath=True)
    shape.commit()
    return ink_bbox(page, box)


def draw_table(page: pymupdf.Page, box: pymupdf.Rect, rows: list[tuple[str, ...]], font: str = "helv",
               shaded_header: bool = False) -> Box:
    """A ruled table: every cell a stroked rectangle with its text; returns the grid's box."""
    cols = len(rows[0])
    cw, rh = box.width / cols, 18.0
    shape = page.new_shape()
    for r, row in enumerate(rows):
        for c in range(len(row)):
            rect = pymupdf.Rect(box.x0 + c * cw, box.y0 + r * rh, box.x0 + (c + 1) * cw, box.y0 + (r + 1) * rh)
            shape.draw_rect(rect)
            shape.finish(color=(0.3, 0.3, 0.3), fill=(0.85, 0.88, 0.93) if shaded_header and r == 0 else None,
                         width=0.6)
    shape.commit()
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            rect = pymupdf.Rect(box.x0 + c * cw, box.y0 + r * rh, box.x0 + (c + 1) * cw, box.y0 + (r + 1) * rh)
            page.insert_text((rect.x0 + 4, rect.y0 + 12.5), cell, fontsize=8.5, fontname=font)
    return (box.x0, box.y0, box.x1, box.y0 + len(rows) * rh)


def draw_booktabs(page: pymupdf.Page, box: pymupdf.Rect, rows: list[tuple[str, ...]]) -> float:
    """A table ruled only by three horizontal lines (top, below the header, bottom); returns its bottom."""
    cw, rh = box.width / len(rows[0]), 15.0
    shape = page.new_shape()
    for y in (box.y0, box.y0 + rh + 2, box.y0 + len(rows) * rh + 4):
        shape.draw_line((box.x0, y), (box.x1, y))
    shape.finish(color=(0, 0, 0), width=0.7, closePath=False)
    shape.commit()
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((box.x0 + c * cw + 3, box.y0 + r * rh + 12 + 2 * (r > 0)), cell, fontsize=8.5)
    return box.y0 + len(rows) * rh + 4


# -- matplotlib (vector as a placed PDF page, or raster as PNG) -------------------------------------------

def _mpl_figure(kind: str, rng: np.random.Generator, size: tuple[float, float]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    ax = fig.subplots()
    if kind == "bar":
        ax.bar([f"Q{i}" for i in range(1, 6)], rng.uniform(3, 10, 5), color="#3b6ea8")
        ax.set_ylabel("units (k)")
    elif kind == "line":
        x = np.arange(24)
        for s in range(2):
            ax.plot(x, np.cumsum(rng.normal(0.3, 1, 24)) + 5 * s, label=f"site {s + 1}")
        ax.legend(fontsize=7)
        ax.set_xlabel("month")
    elif kind == "scatter":
        x = rng.normal(0, 1, 60)
        ax.scatter(x, 2 * x + rng.normal(0, 1, 60), s=12, color="#c0504d")
        ax.set_xlabel("dose")
    elif kind == "pie":
        ax.pie(rng.dirichlet(np.ones(4) * 3), labels=["rent", "staff", "energy", "other"],
               wedgeprops={"edgecolor": "white"})
    elif kind == "barh":
        ax.barh(["north", "south", "east", "west", "centre"], rng.uniform(3, 10, 5), color="#5b9b5b")
        ax.grid(axis="x", alpha=0.5)
    elif kind == "hist":
        ax.hist(rng.normal(0, 1, 400), bins=14, color="#7a5195", edgecolor="white")
        ax.set_xlabel("error (mm)")
    elif kind == "line_markers":
        for s in range(3):
            ax.plot(np.arange(8), rng.uniform(1, 9, 8), marker="os^"[s], label=f"group {s + 1}")
        ax.grid(alpha=0.4)
        ax.legend(fontsize=7)
    elif kind == "donut":
        ax.pie(rng.dirichlet(np.ones(5) * 2), labels=["a", "b", "c", "d", "e"], wedgeprops={"width": 0.4})
    elif kind == "line_grey":
        for s in range(2):
            ax.plot(np.arange(30), np.cumsum(rng.normal(0, 1, 30)), color="black", linestyle="-:"[s])
        ax.set_xlabel("day")
    elif kind == "scatter_dense":
        x = rng.normal(0, 1, 400)
        ax.scatter(x, x + rng.normal(0, 0.6, 400), s=6, alpha=0.6)
    elif kind == "stacked":
        bottom = np.zeros(4)
        for s in range(3):
            v = rng.uniform(1, 4, 4)
            ax.bar(["2021", "2022", "2023", "2024"], v, bottom=bottom, label=f"part {s + 1}")
            bottom += v
        ax.legend(fontsize=7)
    elif kind == "scatter_squares":
        ax.scatter(rng.uniform(0, 10, 35), rng.uniform(0, 5, 35), marker="s", s=14, color="#2a7f62")
        ax.grid(alpha=0.3)
    elif kind == "heatmap":
        im = ax.imshow(rng.uniform(0, 1, (8, 12)), cmap="viridis")
        fig.colorbar(im, ax=ax)
    elif kind == "box":
        ax.boxplot([rng.normal(m, 1, 50) for m in (3, 4, 2.5, 5)])
        ax.set_ylabel("days")
    else:
        raise ValueError(kind)
    fig.tight_layout()
    return fig


def mpl_pdf(kind: str, rng: np.random.Generator, size: tuple[float, float] = (4.0, 2.6)) -> bytes:
    """A matplotlib chart as a one-page vector PDF (TrueType text, so its labels are real text)."""
    import matplotlib

    with matplotlib.rc_context({"pdf.fonttype": 42, "font.size": 8}):
        buf = io.BytesIO()
        _mpl_figure(kind, rng, size).savefig(buf, format="pdf", metadata={"CreationDate": None})
    return buf.getvalue()


def mpl_png(kind: str, rng: np.random.Generator, size: tuple[float, float] = (4.0, 2.6), fmt: str = "png") -> bytes:
    """A matplotlib chart rendered to pixels at 150 dpi (PNG, or JPEG with its compression noise)."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 8}):
        buf = io.BytesIO()
        _mpl_figure(kind, rng, size).savefig(buf, format="png", dpi=150)
    if fmt == "png":
        return buf.getvalue()
    out = io.BytesIO()
    Image.open(buf).convert("RGB").save(out, format="JPEG", quality=70)
    return out.getvalue()


def product_jpeg(rng: np.random.Generator, size: tuple[int, int] = (600, 400)) -> bytes:
    """A product shot: one shaded object on a plain white studio background (a photo that is mostly flat)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot((xx - w / 2) / (w * 0.22), (yy - h / 2) / (h * 0.3))
    shade = np.clip(1 - d, 0, 1)[..., None]
    colour = rng.uniform(0.2, 0.8, 3)
    a = np.where(d[..., None] < 1, 255 * colour * (0.5 + 0.5 * shade), 255.0)
    a = a + rng.normal(0, 3, a.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5)).save(
        buf, format="JPEG", quality=85)
    return buf.getvalue()


def _fit(box: pymupdf.Rect, w: float, h: float) -> pymupdf.Rect:
    """The largest w:h rectangle in `box`, centred across and at the top (where a caption below can follow)."""
    scale = min(box.width / w, box.height / h)
    x0 = box.x0 + (box.width - w * scale) / 2
    return pymupdf.Rect(x0, box.y0, x0 + w * scale, box.y0 + h * scale)


def draw_pdf_figure(page: pymupdf.Page, box: pymupdf.Rect, pdf: bytes) -> Box:
    """Place a one-page PDF (a matplotlib chart) as vector line-art, as LaTeX does with \\includegraphics."""
    with pymupdf.open("pdf", pdf) as src:
        r = _fit(box, src[0].rect.width, src[0].rect.height)
        page.show_pdf_page(r, src, 0)
    return ink_bbox(page, r)


def draw_image(page: pymupdf.Page, box: pymupdf.Rect, data: bytes) -> Box:
    """Place an image (aspect kept); the truth is the rectangle it occupies."""
    r = _fit(box, *Image.open(io.BytesIO(data)).size)
    page.insert_image(r, stream=data, keep_proportion=False)
    return (r.x0, r.y0, r.x1, r.y1)


def photo_jpeg(rng: np.random.Generator, size: tuple[int, int] = (640, 420)) -> bytes:
    """A photo-like JPEG: a sky-to-ground gradient, blurred random blobs and sensor noise."""
    w, h = size
    y = np.linspace(0, 1, h)[:, None, None]
    top, bottom = rng.uniform(0.4, 1.0, 3), rng.uniform(0.0, 0.6, 3)
    base = (top * (1 - y) + bottom * y) * np.ones((h, w, 3))
    im = Image.fromarray((base * 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(40):
        cx, cy, r = rng.uniform(0, w), rng.uniform(h * 0.3, h), rng.uniform(10, 90)
        d.ellipse((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=tuple(int(v) for v in rng.integers(20, 230, 3)))
    im = im.filter(ImageFilter.GaussianBlur(6))
    a = np.asarray(im).astype(np.float32) + rng.normal(0, 9, (h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def texture_jpeg(rng: np.random.Generator, size: tuple[int, int] = (500, 380)) -> bytes:
    """A photo of a textured surface (gravel, bark): multi-scale noise in earthy colours."""
    w, h = size
    a = np.zeros((h, w))
    for scale in (4, 16, 64):
        small = rng.normal(0, 1, (h // scale + 2, w // scale + 2))
        layer = Image.fromarray(small.astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC)
        a += np.asarray(layer) * scale ** 0.5
    a = (a - a.min()) / (a.max() - a.min())
    rgb = np.stack([90 + 120 * a, 70 + 100 * a, 40 + 80 * a], axis=2)
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def draw_tree(page: pymupdf.Page, box: pymupdf.Rect, names: list[str]) -> Box:
    """A tree diagram: oval nodes with names, a root joined to its children by sloped lines."""
    shape = page.new_shape()
    root = pymupdf.Rect((box.x0 + box.x1) / 2 - 40, box.y0 + 2, (box.x0 + box.x1) / 2 + 40, box.y0 + 30)
    kids = len(names) - 1
    nodes = [root]
    for i in range(kids):
        cx = box.x0 + box.width * (i + 0.5) / kids
        nodes.append(pymupdf.Rect(cx - 40, box.y1 - 30, cx + 40, box.y1 - 2))
        shape.draw_line(((root.x0 + root.x1) / 2, root.y1), (cx, box.y1 - 30))
    shape.finish(color=(0.2, 0.2, 0.2), width=0.8, closePath=False)
    for r in nodes:
        shape.draw_oval(r)
        shape.finish(color=(0.2, 0.2, 0.2), fill=(1.0, 0.95, 0.85), width=0.8)
    shape.commit()
    for r, name in zip(nodes, names, strict=True):
        page.insert_text((r.x0 + 40 - 2.2 * len(name), r.y0 + 17), name, fontsize=8)
    return ink_bbox(page, box)


def scan_png(rng: np.random.Generator, size: tuple[int, int] = (1240, 1754)) -> bytes:
    """A scanned page: grey paper noise with dark bars where lines of text would be."""
    w, h = size
    a = 235 + rng.normal(0, 6, (h, w))
    for y in range(150, h - 150, 40):
        a[y:y + 16, 120:int(w - 120 - rng.uniform(0, 300))] -= 150
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def diagram_png(steps: list[str], size: tuple[int, int] = (900, 260)) -> bytes:
    """A flow diagram as pixels: outlined boxes with words, joined by arrows."""
    w, h = size
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    n, gap = len(steps), 70
    bw = (w - 40 - gap * (n - 1)) // n
    for i, step in enumerate(steps):
        x0 = 20 + i * (bw + gap)
        d.rounded_rectangle((x0, h // 2 - 50, x0 + bw, h // 2 + 50), radius=14, outline="black", width=4)
        d.text((x0 + 20, h // 2 - 8), step, fill="black", font_size=26)
        if i + 1 < n:
            d.line((x0 + bw + 6, h // 2, x0 + bw + gap - 12, h // 2), fill="black", width=4)
            tip = x0 + bw + gap - 6
            d.polygon([(tip, h // 2), (tip - 16, h // 2 - 10), (tip - 16, h // 2 + 10)], fill="black")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
