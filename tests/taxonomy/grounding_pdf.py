"""A manual-like PDF for the grounding tests, and PyMuPDF's own view of where its text is.

Four pages: an upright English page (a heading, a phrase repeated on three lines, a line whose start is
also a line of its own, an e-mail address, a bar chart with its caption), a page like it turned
90 degrees, one with a crop box that hides its margins (and a line outside it), and a Chinese page
with a repeated line and a captioned chart. `search_boxes` is what the checks trust: `page.search_for`
mapped onto the rendered image the way the page is turned and cropped.
"""

from __future__ import annotations

from pathlib import Path

import pymupdf

from taxonomy.grounding.boxes import SCALE
from taxonomy.grounding.eval import search_boxes

REPEATED = "Caution: hot surface"
REPEATED_ZH = "请在启动前检查阀门。"
EMAIL_LINE = "Questions: service@pumps.example.org"
CAPTIONS = {1: "Figure 1: Pump pressure over one shift", 2: "Figure 2: Valve temperature by hour",
            4: "图 3 水泵每小时的压力变化"}
HIDDEN = "This line lies outside the crop box"


def _chart(page: pymupdf.Page, x: float, y: float, caption: str, font: str = "helv") -> pymupdf.Rect:
    """A small bar chart at (x, y) with its caption 12 pt below; returns the chart's own rect (bars and axes)."""
    heights = (60, 95, 40, 120, 80)
    for i, h in enumerate(heights):
        page.draw_rect(pymupdf.Rect(x + 10 + i * 30, y + 130 - h, x + 30 + i * 30, y + 130), color=None,
                       fill=(0.2, 0.45, 0.75))
    page.draw_line((x, y + 130), (x + 170, y + 130), color=(0, 0, 0), width=1)
    page.draw_line((x, y), (x, y + 130), color=(0, 0, 0), width=1)
    page.insert_text((x, y + 150), caption, fontsize=10, fontname=font)
    return pymupdf.Rect(x, y + 130 - max(heights), x + 170, y + 130)


ENGLISH = {
    1: ("Operating the pump", ["Check the valve before starting the motor.", REPEATED, "Open the inlet slowly.",
                               "Drain the tank completely after use.", "Drain the tank", REPEATED, EMAIL_LINE,
                               "Let the housing cool for an hour.", REPEATED]),
    2: ("Cleaning the filter", ["Switch the unit off at the mains.", REPEATED, "Lift the filter cartridge out.",
                                "Rinse it under cold running water.", REPEATED, "Never use solvents on the mesh.",
                                "Refit the cartridge until it clicks.", REPEATED]),
}


def _english(page: pymupdf.Page, number: int, top: float = 72) -> None:
    heading, lines = ENGLISH[number]
    page.insert_text((72, top), heading, fontsize=20)
    for i, text in enumerate(lines):
        page.insert_text((72, top + 40 + i * 18), text, fontsize=11)
    _chart(page, 320, top + 20, CAPTIONS[number])


def make_manual(path: Path) -> Path:
    """The four-page test manual (see the module's docstring)."""
    doc = pymupdf.open()
    _english(doc.new_page(width=595, height=842), 1)
    turned = doc.new_page(width=595, height=842)
    _english(turned, 2)
    turned.set_rotation(90)
    cropped = doc.new_page(width=595, height=842)
    cropped.insert_text((72, 60), HIDDEN, fontsize=11)
    for i, text in enumerate(["Maintenance schedule", "Replace the seals every spring.", REPEATED,
                              "Grease the bearings monthly.", REPEATED]):
        cropped.insert_text((100, 200 + i * 20), text, fontsize=12 if i else 18)
    cropped.set_cropbox(pymupdf.Rect(80, 150, 520, 700))
    chinese = doc.new_page(width=595, height=842)
    chinese.insert_text((72, 72), "水泵安全操作说明", fontsize=20, fontname="china-s")
    for i, text in enumerate(["启动电机之前请先阅读本手册。", REPEATED_ZH, "运行时不要触摸外壳。",
                              REPEATED_ZH, "使用完毕后关闭进水阀。"]):
        chinese.insert_text((72, 110 + i * 20), text, fontsize=12, fontname="china-s")
    _chart(chinese, 320, 250, CAPTIONS[4], font="china-s")
    doc.save(path)
    return path


def chart_boxes(path: Path) -> dict[int, pymupdf.Rect]:
    """The chart rect of each page that has one, in unrotated page coordinates (what search_for uses)."""
    rects = {}
    with pymupdf.open(path) as doc:
        for number in CAPTIONS:
            page = doc.load_page(number - 1)
            bars = [d["rect"] for d in page.get_drawings()]
            union = pymupdf.Rect(bars[0])
            for r in bars[1:]:
                union |= r
            rects[number] = union
    return rects


def to_scale(rect: pymupdf.Rect, page: pymupdf.Page, zoom: float, width: int, height: int) -> tuple[float, ...]:
    """An unrotated page rect on the 0-999 scale of the page's image."""
    r = pymupdf.Rect(rect) * page.rotation_matrix * zoom
    return r.x0 / width * SCALE, r.y0 / height * SCALE, r.x1 / width * SCALE, r.y1 / height * SCALE


__all__ = ["make_manual", "chart_boxes", "to_scale", "search_boxes", "REPEATED", "REPEATED_ZH", "EMAIL_LINE",
           "CAPTIONS", "HIDDEN"]
