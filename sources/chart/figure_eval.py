"""How well figure extraction works, measured: `python -m sources.chart.figure_eval [--json FILE] [--out DIR]`.

`make_eval_pdfs` writes PDFs whose figures are known (drawn by `figure_art`): PyMuPDF and matplotlib
line-art, raster charts, photos, diagrams, ruled tables, captions above and below, one, two and three
columns, English and Chinese, and pages that must yield nothing (prose, a scanned page, a boxed
paragraph, a booktabs table, a rule, a logo, an uncaptioned grid). The rules were written against
these documents, so its scores are an upper bound; `hard.pdf` and `holdout.pdf` record (in their
docstrings) what they caught the first time they ran. `evaluate` runs
`find_figures` + `crop` + `classify_figure` over them and reports detection precision/recall (IoU >=
0.5), caption accuracy (exact text after whitespace normalisation) and classification accuracy with a
confusion matrix. The CLI also scores the embedded corpus (`sources/corpus`), whose truth
`corpus_truth` derives from the geometry `sources/corpus/make.py` draws with.

Generated pages are what the rules were written on; real manuals are what they meet. `real_figures.json`
beside this file lists, for pages of manuals from Debian documentation packages (R vignettes, Texinfo,
LaTeX), every captioned figure, hand-checked: `evaluate_real` scores `find_figures` on them (`--real ROOT`,
where the packages were unpacked with `dpkg -x`): recall counts a figure found with its caption,
precision counts every region on those pages that is not one of them (a fragment, a table, prose).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf

from pipelines.resources import package_path
from sources.chart import figure_art as art
from sources.chart.extract import classify_figure, crop, find_figures, page_box

A4 = pymupdf.paper_rect("a4")
MARGIN = 56.0
GAP = 18.0  # between columns
PROSE = [
    "The survey covered every district twice, once in spring and once in autumn, with the same teams.",
    "Most of the change happened in the second half of the year, after the new schedule began.",
    "Readers should note that the figures for the smallest group rest on fewer than forty cases.",
    "The committee reviewed the method in detail and asked for a second, independent count.",
    "Costs rose more slowly than expected because the contracts were signed before the price increase.",
    "Where the records disagreed, the paper log was preferred over the electronic one.",
    "The pattern is similar to that of earlier years, although the gap between the groups has narrowed.",
    "A full list of the stations and their coordinates is kept in the appendix of the printed edition.",
]
PROSE_ZH = ["本次调查覆盖全部城区，每个城区在春季和秋季各调查一次。", "大部分变化发生在下半年新的时间表实施之后。",
            "规模最小的群体样本不足四十个，请读者谨慎解读。", "委员会详细审查了调查方法，并要求进行第二次独立统计。",
            "由于合同在涨价之前签订，成本增长低于预期。", "记录不一致时，以纸质记录为准。"]


def _prose(rng: np.random.Generator, n: int = 4, zh: bool = False) -> str:
    pool = PROSE_ZH if zh else PROSE
    return ("" if zh else " ").join(pool[i] for i in rng.permutation(len(pool))[:n])


class _Column:
    """Flows paragraphs, figures and captions down one column of a page, recording the truth."""

    def __init__(self, page: pymupdf.Page, x0: float, x1: float, truth: list[dict[str, Any]], zh: bool = False):
        self.page, self.x0, self.x1, self.y, self.truth = page, x0, x1, MARGIN, truth
        self.font = "china-s" if zh else "helv"

    def text(self, text: str, size: float = 10, gap: float = 12) -> pymupdf.Rect:
        rect = pymupdf.Rect(self.x0, self.y, self.x1, self.y + 400)
        left = self.page.insert_textbox(rect, text, fontsize=size, fontname=self.font, lineheight=1.3)
        if left < 0:
            raise ValueError(f"text does not fit: {text[:30]!r}")
        used = pymupdf.Rect(self.x0, self.y, self.x1, rect.y1 - left)
        self.y = used.y1 + gap
        return used

    def figure(self, draw: Callable[[pymupdf.Page, pymupdf.Rect], tuple], height: float, label: str,
               caption: str = "", above: bool = False) -> None:
        if caption and above:
            self.text(caption, size=9, gap=6)
        bbox = draw(self.page, pymupdf.Rect(self.x0, self.y, self.x1, self.y + height))
        self.y = bbox[3] + 8  # the caption follows the figure's ink, not the box it was allowed
        if caption and not above:
            self.text(caption, size=9, gap=14)
        else:
            self.y += 10
        self.truth.append({"page": self.page.number, "bbox": [round(v, 2) for v in bbox], "label": label,
                           "caption": caption})


def _columns(page: pymupdf.Page, truth: list[dict[str, Any]], two: bool, zh: bool = False) -> list[_Column]:
    if not two:
        return [_Column(page, MARGIN, A4.width - MARGIN, truth, zh)]
    w = (A4.width - 2 * MARGIN - GAP) / 2
    return [_Column(page, MARGIN, MARGIN + w, truth, zh), _Column(page, MARGIN + w + GAP, A4.width - MARGIN, truth, zh)]


def _onecol_en(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    c.text(_prose(rng))
    c.figure(lambda p, b: art.draw_bar(p, b, rng), 200, "bar", "Figure 1: Annual rainfall by region, 2018-2024.")
    c.text(_prose(rng))
    c.figure(lambda p, b: art.draw_bar(p, b, rng, horizontal=True, categories=["north", "south", "east", "west"]),
             150, "bar", "Fig. 2. Stations per region.", above=True)
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    c.text(_prose(rng))
    c.figure(lambda p, b: art.draw_line(p, b, rng), 200, "line", "Fig. 3. Monthly visitors at the two museums.",
             above=True)
    c.text(_prose(rng))
    c.figure(lambda p, b: art.draw_scatter(p, b, rng), 210, "scatter", "Figure 4 Height against age for 40 saplings.")
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    c.figure(lambda p, b: art.draw_diagram(p, b, ["Intake", "Clean", "Check", "Archive"]), 60, "diagram",
             "Fig 5: Data flow from intake to archive.")
    c.text(_prose(rng, 6))
    c.figure(lambda p, b: art.draw_line(p, b, rng, markers=False), 160, "line")  # no caption
    c.text(_prose(rng, 5))
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    for _ in range(4):
        c.text(_prose(rng, 5))


def _twocol_en(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    left, right = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=True)
    left.text(_prose(rng))
    left.figure(lambda p, b: art.draw_image(p, b, art.photo_jpeg(rng)), 150, "photo",
                "Figure 1: A hillside orchard in late summer.")
    left.text(_prose(rng, 5))
    right.text(_prose(rng, 3))
    right.figure(lambda p, b: art.draw_pie(p, b, rng, ["staff", "rent", "energy", "other"]), 130, "pie",
                 "Chart 2: Budget shares by department.")
    right.text(_prose(rng, 5))
    left, right = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=True)
    left.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("bar", rng)), 160, "bar", "Exhibit 3. Sales by quarter.",
                above=True)
    left.text(_prose(rng, 5))
    right.text(_prose(rng, 2))
    right.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("line", rng)), 160, "line",
                 "Figure 4: Two sites over two years.")
    right.text(_prose(rng, 4))
    left.figure(lambda p, b: art.draw_scatter(p, b, rng, n=30), 150, "scatter", "Fig. 5. Dose and response.")
    right.figure(lambda p, b: art.draw_diagram(p, b, ["Ask", "Plan", "Act"]), 50, "diagram",
                 "Figure 6: The three steps.")
    left, right = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=True)
    for col in (left, right):
        for _ in range(3):
            col.text(_prose(rng, 4))


def _vector_chart_pages(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]],
                        specs: list[tuple[str, str, str, bool]], height: float, lead: int) -> None:
    """One-column pages holding two matplotlib charts each (inserted as vector PDF), with prose around
    them: `specs` are (chart kind, expected label, caption, caption above?)."""
    for i, (kind, label, caption, above) in enumerate(specs):
        if i % 2 == 0:
            (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
            c.text(_prose(rng, lead))
        pdf = art.mpl_pdf(kind, rng)
        c.figure(lambda p, b, pdf=pdf: art.draw_pdf_figure(p, b, pdf), height, label, caption, above=above)
        c.text(_prose(rng, 3))


def _matplotlib(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    specs = [("bar", "bar", "Figure 1: Orders per quarter.", False), ("line", "line", "Figure 2: Two sites.", True),
             ("scatter", "scatter", "Figure 3: Dose and response.", False),
             ("pie", "pie", "Figure 4: Where the money goes.", False),
             ("box", "other_chart", "Figure 5: Waiting times in four clinics.", True)]
    _vector_chart_pages(doc, rng, truth, specs, height=230, lead=3)


def _rasters_and_decoys(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    c.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("scatter", rng)), 190, "scatter",
             "Figure 7: Dose and response, raw data.")
    c.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("pie", rng)), 190, "pie", "Figure 8: Spending shares.")
    c.figure(lambda p, b: art.draw_image(p, b, art.diagram_png(["load", "parse", "store"])), 90, "diagram",
             "Figure 9: The import job.", above=True)
    page = doc.new_page(width=A4.width, height=A4.height)
    (c,) = _columns(page, truth, two=False)
    c.text(_prose(rng, 3))
    c.figure(lambda p, b: art.draw_image(p, b, art.photo_jpeg(rng)), 180, "photo")  # a photo without caption

    def annotated(p: pymupdf.Page, b: pymupdf.Rect) -> tuple:
        box = art.draw_image(p, b, art.photo_jpeg(rng, (600, 300)))
        shape = p.new_shape()
        shape.draw_line((box[0] + 30, box[1] + 30), (box[0] + 120, box[1] + 80))
        shape.finish(color=(1, 1, 0), width=2, closePath=False)
        shape.commit()
        p.insert_text((box[0] + 125, box[1] + 85), "nest", fontsize=9, color=(1, 1, 0))
        return box

    c.figure(annotated, 130, "photo", "Figure 10: The nest, marked.")
    # decoys: a logo, a rule under a heading, a boxed paragraph, a booktabs table, an uncaptioned grid
    logo = pymupdf.Rect(A4.width - MARGIN - 20, 20, A4.width - MARGIN, 40)
    page.insert_image(logo, stream=art.photo_jpeg(rng, (40, 40)))
    head = c.text("Notes on method", size=12, gap=2)
    page.draw_line((c.x0, head.y1 + 1), (c.x1, head.y1 + 1), color=(0, 0, 0), width=0.6)
    c.y += 6
    boxed = c.text(_prose(rng, 3))
    page.draw_rect(boxed + (-4, -4, 4, 4), color=(0.3, 0.3, 0.3), fill=(0.95, 0.95, 0.9), overlay=False, width=0.8)
    c.text("Table 3: Sites and visits (horizontal rules only).", size=9, gap=6)
    c.y = art.draw_booktabs(page, pymupdf.Rect(c.x0, c.y, c.x0 + 300, c.y + 80),
                            [("Site", "Visits", "Share"), ("North", "1,204", "41%"), ("South", "1,733", "59%")]) + 16
    art.draw_table(page, pymupdf.Rect(c.x0, c.y, c.x0 + 300, c.y + 60), [("Form", "Field"), ("Name", ""), ("Date", "")])


def _tables_and_scan(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    c.text(_prose(rng, 3))
    rows = [("Region", "Stations", "Rain (mm)", "Change"), ("North", "12", "812", "+4%"), ("South", "9", "604", "-2%"),
            ("East", "14", "700", "+1%")]
    c.figure(lambda p, b: art.draw_table(p, b, rows), 80, "table", "Table 1: Stations and rainfall by region.",
             above=True)
    c.text(_prose(rng, 3))
    c.figure(lambda p, b: art.draw_table(p, b, rows[:3], shaded_header=True), 60, "table", "Table 2. The two wettest.")
    page = doc.new_page(width=A4.width, height=A4.height)
    page.insert_image(page.rect, stream=art.scan_png(rng))  # a scanned page: no figure to find
    page = doc.new_page(width=A4.width, height=A4.height)  # prose inside a decorative page border
    page.draw_rect(page.rect + (20, 20, -20, -20), color=(0.2, 0.2, 0.5), width=2)
    (c,) = _columns(page, truth, two=False)
    for _ in range(3):
        c.text(_prose(rng, 5))


def _chinese(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False, zh=True)
    c.text(_prose(rng, 3, zh=True))
    c.figure(lambda p, b: art.draw_bar(p, b, rng, categories=["东区", "西区", "南区", "北区"], font="china-s"), 180,
             "bar", "图1：各区年降雨量。")
    c.text(_prose(rng, 3, zh=True))
    c.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("line", rng)), 170, "line", "图 2 两个站点的月度客流",
             above=True)
    c.text(_prose(rng, 2, zh=True))
    rows = [("地区", "站点", "降雨量"), ("东区", "12", "812"), ("西区", "9", "604")]
    c.figure(lambda p, b: art.draw_table(p, b, rows, font="china-s"), 60, "table", "表1 各区站点与降雨量", above=True)
    left, right = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=True, zh=True)
    left.text(_prose(rng, 3, zh=True))
    left.figure(lambda p, b: art.draw_pie(p, b, rng, ["人员", "房租", "能源"], font="china-s"), 120, "pie",
                "图３：预算构成。")
    right.text(_prose(rng, 2, zh=True))
    right.figure(lambda p, b: art.draw_diagram(p, b, ["采集", "清洗", "入库"], font="china-s"), 50, "diagram",
                 "图三 数据处理流程")
    right.text(_prose(rng, 3, zh=True))
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False, zh=True)
    for _ in range(3):
        c.text(_prose(rng, 5, zh=True))


def _hard(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    """Harder cases, written after the rules were tuned on the documents above: gridlines, histograms,
    donuts, JPEG and grey charts, dense scatter, a product photo, panels sharing a caption, and a
    paragraph beginning "Figure 2 shows" right under a figure captioned above. Its first run exposed
    five faults, since fixed (two-column captions MuPDF joined into one block, donuts, black line
    series in rasters, panels); the product photo on a white background is still called a diagram."""
    specs = [("barh", "bar", "Figure 1: Stations per region.", False), ("hist", "bar", "Figure 2. Error spread.", True),
             ("line_markers", "line", "Fig. 3: Three groups over eight weeks.", False),
             ("donut", "pie", "Figure 4: Shares, as a ring.", False)]
    _vector_chart_pages(doc, rng, truth, specs, height=220, lead=2)
    left, right = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=True)
    left.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("bar", rng, fmt="jpeg")), 160, "bar",
                "Figure 5: Orders per quarter (a JPEG).")
    right.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("line_grey", rng)), 160, "line",
                 "Figure 6: Two series in black.")
    left.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("scatter_dense", rng)), 160, "scatter",
                "Figure 7: Four hundred points.")
    right.figure(lambda p, b: art.draw_image(p, b, art.product_jpeg(rng)), 160, "photo", "Figure 8: The kettle.")
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    c.text(_prose(rng, 2))
    c.figure(lambda p, b: art.draw_bar(p, b, rng), 150, "bar", "Figure 1: Rainfall by year.", above=True)
    c.text("Figure 2 shows the same stations in the dry season, when most of them reported no rain at all.")
    c.text(_prose(rng, 2))
    top = c.y
    half = (c.x1 - c.x0 - 24) / 2

    def panels(p: pymupdf.Page, b: pymupdf.Rect) -> tuple:
        a = art.draw_bar(p, pymupdf.Rect(b.x0, b.y0, b.x0 + half, b.y1), rng)
        z = art.draw_line(p, pymupdf.Rect(b.x1 - half, b.y0, b.x1, b.y1), rng)
        return (min(a[0], z[0]), min(a[1], z[1]), max(a[2], z[2]), max(a[3], z[3]))

    c.y = top
    c.figure(panels, 150, "bar", "Figure 3: Rainfall (left) and visitors (right), one caption for both panels.")


def _holdout(doc: pymupdf.Document, rng: np.random.Generator, truth: list[dict[str, Any]]) -> None:
    """Written after the hard cases were fixed, as a check on unseen layouts (three columns, a shaded
    note, square markers, a tree, a heat map). Its first run found 7 of 8 figures (all captions right)
    and labelled 6 of 7: a matplotlib scatter of square markers on gridlines passed for an empty form
    grid, and a tree's branches for a data line. Both rules were fixed, so it is no longer unseen."""
    page = doc.new_page(width=A4.width, height=A4.height)
    page.draw_line((MARGIN, 40), (A4.width - MARGIN, 40), color=(0.5, 0.5, 0.5), width=0.5)  # running header rule
    page.insert_text((A4.width / 2, A4.height - 30), "7", fontsize=9)
    w = (A4.width - 2 * MARGIN - 2 * 14) / 3
    cols = [_Column(page, MARGIN + k * (w + 14), MARGIN + k * (w + 14) + w, truth) for k in range(3)]
    cols[0].text(_prose(rng, 3))
    cols[0].figure(lambda p, b: art.draw_image(p, b, art.texture_jpeg(rng)), 120, "photo",
                   "Figure 1: Gravel at the river mouth, photographed at low tide in early May.")
    cols[1].figure(lambda p, b: art.draw_pdf_figure(p, b, art.mpl_pdf("stacked", rng, (3, 2.4))), 150, "bar",
                   "Fig. 2: Three parts of the budget.", above=True)
    cols[1].text(_prose(rng, 2))
    cols[2].text(_prose(rng, 2))
    cols[2].figure(lambda p, b: art.draw_image(p, b, art.mpl_png("heatmap", rng, (3, 2.2))), 130, "other_chart",
                   "Figure 3 Readings per hour and station.")
    cols[2].text(_prose(rng, 2))
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False)
    note = c.text("Note: all values are provisional.", size=10)
    doc[-1].draw_rect(note + (-4, -4, 4, 4), color=None, fill=(1, 0.95, 0.7), overlay=False)
    c.figure(lambda p, b: art.draw_pdf_figure(p, b, art.mpl_pdf("scatter_squares", rng)), 200, "scatter",
             "Figure 4: Sites by depth and age, one square per site.")
    c.text(_prose(rng, 2))
    c.figure(lambda p, b: art.draw_tree(p, b, ["archive", "maps", "letters", "photos"]), 90, "diagram",
             "Figure 5: How the archive is organised.", above=True)
    c.figure(lambda p, b: art.draw_table(p, b, [("Box", "Items"), ("A", "120"), ("B", "87"), ("C", "41")]), 80,
             "table", "Table 4: Items per box.")
    (c,) = _columns(doc.new_page(width=A4.width, height=A4.height), truth, two=False, zh=True)
    c.text(_prose(rng, 2, zh=True))
    c.figure(lambda p, b: art.draw_image(p, b, art.mpl_png("pie", rng)), 170, "pie", "图５：经费构成")
    c.text(_prose(rng, 2, zh=True))
    c.figure(lambda p, b: art.draw_pdf_figure(p, b, art.mpl_pdf("line", rng)), 190, "line", "图 6. 两个站点的变化")


DOCUMENTS = {"onecol_en.pdf": _onecol_en, "twocol_en.pdf": _twocol_en, "matplotlib.pdf": _matplotlib,
             "rasters_decoys.pdf": _rasters_and_decoys, "tables_scan.pdf": _tables_and_scan, "chinese.pdf": _chinese,
             "hard.pdf": _hard, "holdout.pdf": _holdout}


def make_eval_pdfs(out_dir: Path | str, seed: int = 7) -> list[dict[str, Any]]:
    """Write the evaluation PDFs into `out_dir` and return their truth: one dict per file,
    {"file", "pages", "figures": [{"page" (0-based), "bbox" (pt), "label", "caption"}]}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for i, (name, build) in enumerate(DOCUMENTS.items()):
        truth: list[dict[str, Any]] = []
        doc = pymupdf.open()
        build(doc, np.random.default_rng(seed + i), truth)
        doc.set_metadata({"title": name, "creationDate": "D:20250101000000Z", "modDate": "D:20250101000000Z"})
        doc.save(out_dir / name, garbage=3, deflate=True, no_new_id=True)
        result.append({"file": str(out_dir / name), "pages": doc.page_count, "figures": truth})
        doc.close()
    return result


def corpus_truth(corpus: Path | str | None = None) -> list[dict[str, Any]]:
    """The figures of the embedded corpus, placed by replaying the layout arithmetic of
    `sources/corpus/make.py` (its text boxes are re-run on a scratch page to learn where they end)."""
    from sources.corpus import make as m

    corpus = Path(corpus) if corpus else m.HERE
    body = pymupdf.Rect(m.MARGIN, m.MARGIN, m.A4.width - m.MARGIN, m.A4.height - m.MARGIN)
    scratch = pymupdf.open()
    page = scratch.new_page(width=m.A4.width, height=m.A4.height)
    left = pymupdf.TEXT_ALIGN_LEFT
    # annual report, page 2: the table's 22 pt rows start 6 pt under the caption's text box
    table_cap = "Table 1: Water consumption by customer group, 2025."
    y = m._textbox(page, pymupdf.Rect(body.x0, body.y0, body.x1, body.y0 + 260), m.REPORT_PAGES[1])
    y = m._textbox(page, pymupdf.Rect(body.x0, y + 16, body.x1, y + 40), table_cap, size=10, font="heit", align=left)
    table = (body.x0, y + 6, body.x1, y + 6 + 22 * len(m.REPORT_TABLE))
    # page 3: the plot box, the tick labels 24 pt left of it, the year labels 13 pt below it (8 pt
    # Helvetica spans baseline-8.6 to baseline+2.4), and the axis title 44 pt left and 8 pt above
    plot = pymupdf.Rect(body.x0 + 50, body.y0 + 20, body.x1 - 30, body.y0 + 280)
    chart = (plot.x0 - 44, plot.y0 - 8 - 8.6, plot.x1, plot.y1 + 13 + 2.4)
    # field notes, page 1: the image sits 6 pt under its caption, at the right column's width
    notes_cap = "Fig. 1. Dusk temperature on shaded and open streets over a week of hot days."
    col_w = (m.A4.width - 2 * m.MARGIN - 18) / 2
    page = scratch.new_page(width=m.A4.width, height=m.A4.height)
    y = m._textbox(page, pymupdf.Rect(m.MARGIN, m.MARGIN, m.A4.width - m.MARGIN, m.MARGIN + 50), m.NOTES_TITLE,
                   size=16, font="tibo", align=left)
    right = pymupdf.Rect(m.MARGIN + col_w + 18, y + 12, m.A4.width - m.MARGIN, m.A4.height - m.MARGIN)
    cap_y = m._textbox(page, pymupdf.Rect(right.x0, right.y0, right.x1, right.y0 + 40), notes_cap, size=9, font="tiit",
                       align=left)
    image = (right.x0, cap_y + 6, right.x1, cap_y + 6 + col_w * 520 / 900)
    scratch.close()
    return [
        {"file": str(corpus / "annual_report.pdf"), "pages": 3, "figures": [
            {"page": 1, "bbox": list(table), "label": "table", "caption": table_cap},
            {"page": 2, "bbox": list(chart), "label": "bar",
             "caption": "Figure 1: Share of treated water lost to leakage, 2021-2025."}]},
        {"file": str(corpus / "field_notes.pdf"), "pages": 2, "figures": [
            {"page": 0, "bbox": list(image), "label": "line", "caption": notes_cap}]},
        {"file": str(corpus / "library_guide_zh.pdf"), "pages": 1, "figures": []},
    ]


def iou(a: tuple | list, b: tuple | list) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def evaluate(pdfs: list[dict[str, Any]], dpi: int = 144) -> dict[str, Any]:
    """Score find/crop/classify against the truth from `make_eval_pdfs` or `corpus_truth`."""
    tp = fp = fn = cap_ok = cls_ok = pixel_ok = 0
    per_file: dict[str, dict[str, int]] = {}
    confusion: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    found_total, seconds = 0, 0.0
    for entry in pdfs:
        with pymupdf.open(entry["file"]) as doc:
            for number in range(doc.page_count):
                page = doc[number]
                start = time.perf_counter()
                regions = find_figures(page)
                pngs = [crop(page, r.bbox, dpi)[0] for r in regions]
                labels = [classify_figure(png, r, page)[0] for png, r in zip(pngs, regions, strict=True)]
                seconds += time.perf_counter() - start
                pixel_labels = [classify_figure(png, r)[0] for png, r in zip(pngs, regions, strict=True)]
                found_total += len(regions)
                truths = [t for t in entry["figures"] if t["page"] == number]
                pairs = sorted(((iou(r.bbox, t["bbox"]), i, j) for i, r in enumerate(regions)
                                for j, t in enumerate(truths)), reverse=True)
                matched: dict[int, int] = {}
                for score, i, j in pairs:
                    if score >= 0.5 and i not in matched and j not in matched.values():
                        matched[i] = j
                where = {"file": Path(entry["file"]).name, "page": number}
                stats = per_file.setdefault(where["file"],
                                            dict.fromkeys(("figures", "tp", "fp", "captions", "labels"), 0))
                stats["figures"] += len(truths)
                for i, r in enumerate(regions):
                    if i not in matched:
                        fp += 1
                        stats["fp"] += 1
                        errors.append({**where, "error": "false_positive", "bbox": r.bbox, "caption": r.caption})
                        continue
                    t = truths[matched[i]]
                    tp += 1
                    stats["tp"] += 1
                    pixel_ok += pixel_labels[i] == t["label"]
                    stats["labels"] += labels[i] == t["label"]
                    if _norm(r.caption) == _norm(t["caption"]):
                        cap_ok += 1
                        stats["captions"] += 1
                    else:
                        errors.append({**where, "error": "caption", "want": t["caption"], "got": r.caption})
                    confusion.setdefault(t["label"], {}).setdefault(labels[i], 0)
                    confusion[t["label"]][labels[i]] += 1
                    if labels[i] == t["label"]:
                        cls_ok += 1
                    else:
                        errors.append({**where, "error": "label", "want": t["label"], "got": labels[i], "bbox": r.bbox})
                for j, t in enumerate(truths):
                    if j not in matched.values():
                        fn += 1
                        errors.append({**where, "error": "missed", "bbox": t["bbox"], "label": t["label"]})
    return {
        "figures": tp + fn, "found": found_total,
        "detection": {"tp": tp, "fp": fp, "fn": fn, "precision": tp / (tp + fp) if tp + fp else 1.0,
                      "recall": tp / (tp + fn) if tp + fn else 1.0},
        "caption_accuracy": cap_ok / tp if tp else 0.0,
        "classification": {"accuracy": cls_ok / tp if tp else 0.0, "confusion": confusion,
                           "pixels_only_accuracy": pixel_ok / tp if tp else 0.0},
        "per_file": per_file,
        "figures_per_s": found_total / seconds if seconds else 0.0,
        "errors": errors,
    }


REAL_FIGURES = package_path("sources", "chart", "real_figures.json")


def _open(path: Path) -> pymupdf.Document:
    """A PDF, or a gzipped one (Debian compresses some manuals)."""
    if path.suffix == ".gz":
        return pymupdf.open(stream=gzip.decompress(path.read_bytes()), filetype="pdf")
    return pymupdf.open(path)


def same_figure(found: tuple | list, truth: tuple | list) -> bool:
    """A found box is the truth's figure when IoU >= 0.5, or when it covers 80% of it without being more
    than twice its size (a figure found with its wide legend, or without its white margin)."""
    ix = max(0.0, min(found[2], truth[2]) - max(found[0], truth[0]))
    iy = max(0.0, min(found[3], truth[3]) - max(found[1], truth[1]))
    area_t = (truth[2] - truth[0]) * (truth[3] - truth[1])
    area_f = (found[2] - found[0]) * (found[3] - found[1])
    return iou(found, truth) >= 0.5 or (ix * iy >= 0.8 * area_t and area_f <= 2 * area_t)


def _caption_key(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def evaluate_real(root: Path | str, truth_file: Path | str = REAL_FIGURES) -> dict[str, Any]:
    """Score `find_figures` against the hand-checked figures of real manuals unpacked under `root`.

    Per manual: `figures`, `boxes` (found where they are), `found` (there and with the caption that
    starts as the truth's), `regions` (all regions on the listed pages), `wrong` (regions that are no
    listed figure), recall (`found / figures`) and precision (`(regions - wrong) / regions`), and the
    time `find_figures` took per page. Documents not unpacked under `root` are listed in `missing`."""
    root = Path(root)
    spec = json.loads(Path(truth_file).read_text())
    manuals: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    missing: list[str] = []
    for entry in spec["documents"]:
        path = root / entry["file"]
        if not path.exists():
            missing.append(entry["file"])
            continue
        stats = manuals.setdefault(entry["manual"], dict.fromkeys(
            ("figures", "boxes", "found", "regions", "wrong", "pages", "seconds"), 0))
        with _open(path) as doc:
            for number in entry["pages"]:
                page = doc[number]
                start = time.perf_counter()
                regions = find_figures(page)
                stats["seconds"] += time.perf_counter() - start
                stats["pages"] += 1
                whole = page_box(page)  # a region reaching off the page is scored for what shows
                boxes = [tuple(pymupdf.Rect(r.bbox) & whole) for r in regions]
                truths = [t for t in entry["figures"] if t["page"] == number]
                used: set[int] = set()
                for t in truths:
                    hits = [i for i, b in enumerate(boxes) if i not in used and same_figure(b, t["bbox"])]
                    good = [i for i in hits if _caption_key(regions[i].caption).startswith(_caption_key(t["caption"]))]
                    where = {"file": Path(entry["file"]).name, "page": number, "caption": t["caption"]}
                    if good or hits:
                        i = (good or hits)[0]
                        used.add(i)
                        stats["boxes"] += 1
                        stats["found"] += bool(good)
                        if not good:
                            errors.append({**where, "error": "caption", "got": regions[i].caption[:60]})
                    else:
                        errors.append({**where, "error": "missed", "got": [(b, r.caption[:30]) for b, r in
                                                                           zip(boxes, regions, strict=True)]})
                stats["figures"] += len(truths)
                stats["regions"] += len(regions)
                for i, r in enumerate(regions):
                    if i not in used:
                        stats["wrong"] += 1
                        errors.append({"file": Path(entry["file"]).name, "page": number, "error": "false_positive",
                                       "bbox": boxes[i], "caption": r.caption[:60]})
    for s in manuals.values():
        s["recall"] = s["found"] / s["figures"] if s["figures"] else 1.0
        s["precision"] = (s["regions"] - s["wrong"]) / s["regions"] if s["regions"] else 1.0
        s["ms_per_page"] = 1000 * s.pop("seconds") / max(s["pages"], 1)
    total = {k: sum(s[k] for s in manuals.values()) for k in ("figures", "boxes", "found", "regions", "wrong")}
    total["recall"] = total["found"] / total["figures"] if total["figures"] else 1.0
    total["precision"] = (total["regions"] - total["wrong"]) / total["regions"] if total["regions"] else 1.0
    return {"manuals": manuals, "total": total, "errors": errors, "missing": missing}


def _real_summary(r: dict[str, Any]) -> str:
    lines = ["real manuals (figure + caption recall, region precision):"]
    for name, s in [*r["manuals"].items(), ("total", r["total"])]:
        lines.append(f"  {name:>10}: {s['found']}/{s['figures']} found with caption (box {s['boxes']}), recall "
                     f"{s['recall']:.3f}; {s['regions']} regions, {s['wrong']} wrong, precision {s['precision']:.3f}"
                     + (f"; {s['ms_per_page']:.1f} ms/page" if "ms_per_page" in s else ""))
    lines += [f"  ! {e}" for e in r["errors"]] + [f"  missing: {m}" for m in r["missing"]]
    return "\n".join(lines)


def _summary(name: str, r: dict[str, Any]) -> str:
    d = r["detection"]
    lines = [f"{name}: {r['figures']} figures, {r['found']} found",
             f"  detection  precision {d['precision']:.3f}  recall {d['recall']:.3f}  (tp {d['tp']} fp {d['fp']} "
             f"fn {d['fn']}, IoU >= 0.5)",
             f"  captions   {r['caption_accuracy']:.3f} exact",
             f"  classes    {r['classification']['accuracy']:.3f} (from pixels only, without the page: "
             f"{r['classification']['pixels_only_accuracy']:.3f})",
             f"  speed      {r['figures_per_s']:.1f} figures/s (find + crop + classify)"]
    for name, f in r["per_file"].items():
        lines.append(f"    {name:>20}: {f['figures']} figures, tp {f['tp']} fp {f['fp']}, "
                     f"captions {f['captions']}, labels {f['labels']}")
    for want, got in sorted(r["classification"]["confusion"].items()):
        lines.append(f"    {want:>12} -> " + ", ".join(f"{k} {v}" for k, v in sorted(got.items())))
    lines += [f"  ! {e}" for e in r["errors"]]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="write the full results here")
    p.add_argument("--out", type=Path, help="keep the evaluation PDFs in this folder")
    p.add_argument("--real", type=Path, metavar="ROOT",
                   help="score only the real manuals of real_figures.json, unpacked under ROOT (dpkg -x)")
    args = p.parse_args()
    if args.real:
        real = evaluate_real(args.real)
        print(_real_summary(real))
        if args.json:
            args.json.write_text(json.dumps(real, indent=2, ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory() as tmp:
        truth = make_eval_pdfs(args.out or tmp)
        results = {"eval_set": evaluate(truth), "corpus": evaluate(corpus_truth())}
    print(_summary("eval set", results["eval_set"]))
    print(_summary("embedded corpus", results["corpus"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
