"""Figure extraction from PDF pages, without Ray: finding, captions, crops and classes, measured on PDFs
whose figures are known (sources.chart.figure_eval) and on the embedded corpus."""

import io
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from sources.chart.extract import CROP_PAD, caption_label, chart_kind, classify_figure, crop, find_figures
from sources.chart.figure_eval import corpus_truth, evaluate, iou, make_eval_pdfs
from tests.pdfs import text_pdf

# Measured on the generated set (47 figures): 46/47 = 0.979 with the page, 40/47 = 0.851 from pixels
# alone. The floors sit a little below, so a real regression fails and noise in a rule does not.
CLASS_ACCURACY_FLOOR = 0.93
PIXEL_ACCURACY_FLOOR = 0.80
# documents the rules were built on; hard.pdf and holdout.pdf count only towards the floors
CORE = ("onecol_en.pdf", "twocol_en.pdf", "matplotlib.pdf", "rasters_decoys.pdf", "tables_scan.pdf", "chinese.pdf")


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory) -> list[dict]:
    return make_eval_pdfs(tmp_path_factory.mktemp("figures"))


@pytest.fixture(scope="module")
def scores(eval_set) -> dict:
    return evaluate(eval_set)


def _regions(path: str | Path, number: int) -> tuple[pymupdf.Document, pymupdf.Page, list]:
    doc = pymupdf.open(path)
    page = doc[number]
    return doc, page, find_figures(page)


def test_every_known_figure_is_found_with_its_caption(scores):
    errors = [e for e in scores["errors"] if e["file"] in CORE]
    assert errors == []
    for name in CORE:
        stats = scores["per_file"][name]
        assert stats["tp"] == stats["figures"] == stats["captions"], name
    # raster and vector, captions above and below, one and two columns, English and Chinese all appear
    assert scores["detection"]["recall"] == 1.0 and scores["caption_accuracy"] == 1.0


def test_two_column_figures_take_the_caption_of_their_own_column(eval_set):
    truth = next(e for e in eval_set if e["file"].endswith("twocol_en.pdf"))
    with pymupdf.open(truth["file"]) as doc:
        for t in truth["figures"]:
            found = [r for r in find_figures(doc[t["page"]]) if iou(r.bbox, t["bbox"]) >= 0.5]
            assert len(found) == 1 and found[0].caption == t["caption"], t


def test_no_region_is_plain_text(eval_set, corpus, tmp_path):
    assert find_figures(pymupdf.open(text_pdf(tmp_path / "prose.pdf", ["A page of words. " * 80]))[0]) == []
    for entry in [*eval_set, *corpus_truth(corpus)]:
        with pymupdf.open(entry["file"]) as doc:
            for page in doc:
                paragraphs = [pymupdf.Rect(b[:4]) for b in page.get_text("blocks")
                              if b[6] == 0 and len(b[4].split()) >= 15 and not caption_label(b[4])]
                for r in find_figures(page):
                    box = pymupdf.Rect(r.bbox)
                    assert not any((p & box).get_area() >= 0.5 * p.get_area() for p in paragraphs), (entry, r)
                if not any(t["page"] == page.number for t in entry["figures"]):
                    assert find_figures(page) == [], (entry["file"], page.number)  # prose, scans, decoys


def test_decoys_are_not_figures(scores):
    """A logo, a rule under a heading, a boxed paragraph, a booktabs table, an uncaptioned grid, a
    scanned page and a page border: nothing to find, so every region on those pages is a true figure."""
    for name in ("rasters_decoys.pdf", "tables_scan.pdf"):
        assert scores["per_file"][name]["fp"] == 0
    assert scores["detection"]["precision"] == 1.0


def test_crops_match_the_dpi_and_are_not_blank(corpus):
    with pymupdf.open(corpus / "annual_report.pdf") as doc:
        page = doc[2]
        (chart,) = find_figures(page)
        x0, y0, x1, y1 = chart.bbox
        for dpi in (72, 200):
            png, w, h = crop(page, chart.bbox, dpi=dpi)
            im = Image.open(io.BytesIO(png))
            assert im.format == "PNG" and im.size == (w, h)
            assert abs(w - (x1 - x0 + 2 * CROP_PAD) * dpi / 72) <= 2
            assert abs(h - (y1 - y0 + 2 * CROP_PAD) * dpi / 72) <= 2
            assert np.asarray(im.convert("L")).std() > 20  # bars, axes and labels, not an empty crop


def test_crop_is_clamped_to_the_page_and_turns_with_a_rotated_page(corpus, tmp_path):
    with pymupdf.open(corpus / "annual_report.pdf") as doc:
        _, w, h = crop(doc[0], (-50, -50, 100, 100), dpi=72)
        assert (w, h) == (100 + CROP_PAD, 100 + CROP_PAD)  # only the part on the page (plus the padding)
        doc[2].set_rotation(90)
        doc.save(tmp_path / "rotated.pdf")
    with pymupdf.open(tmp_path / "rotated.pdf") as doc:
        (chart,) = find_figures(doc[2])
        png, w, h = crop(doc[2], chart.bbox, dpi=72)
        assert w < h  # the wide chart stands upright on the turned page
        assert chart.caption.startswith("Figure 1") and classify_figure(png, chart, doc[2])[0] == "bar"


def test_classification_accuracy_on_the_eval_set_meets_the_measured_floor(scores):
    assert scores["classification"]["accuracy"] >= CLASS_ACCURACY_FLOOR
    assert scores["classification"]["pixels_only_accuracy"] >= PIXEL_ACCURACY_FLOOR
    confusion = scores["classification"]["confusion"]
    for label in ("bar", "line", "scatter", "pie", "diagram", "table"):
        assert confusion[label].get(label, 0) >= 0.75 * sum(confusion[label].values()), label


def test_embedded_corpus_bar_chart_and_raster_figure(corpus):
    doc, page, regions = _regions(corpus / "annual_report.pdf", 2)
    (chart,) = regions
    assert chart.caption.startswith("Figure 1") and chart.label == "Figure 1" and chart.origin == "vector"
    assert "2021" in chart.inner_text and "Leakage" in chart.inner_text  # tick labels and axis title
    label, features = classify_figure(crop(page, chart.bbox)[0], chart, page)
    assert label == "bar" and chart_kind(label) == "chart" and features["bars"] == 5
    doc, page, regions = _regions(corpus / "field_notes.pdf", 0)
    (figure,) = regions
    assert figure.origin == "raster" and figure.label == "Fig. 1"
    assert figure.caption == "Fig. 1. Dusk temperature on shaded and open streets over a week of hot days."
    assert figure.caption_bbox[3] <= figure.bbox[1]  # the caption sits above this one


def test_embedded_corpus_table_is_a_captioned_table_and_can_be_left_out(corpus):
    doc, page, regions = _regions(corpus / "annual_report.pdf", 1)
    (table,) = regions
    assert table.is_table_caption and table.label == "Table 1" and table.origin == "vector"
    assert classify_figure(crop(page, table.bbox)[0], table, page)[0] == "table"
    assert chart_kind("table") == "figure"
    assert find_figures(page, tables=False) == []
    assert find_figures(pymupdf.open(corpus / "library_guide_zh.pdf")[0]) == []


def test_embedded_corpus_scores(corpus):
    result = evaluate(corpus_truth(corpus))
    assert result["detection"] == {"tp": 3, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert result["caption_accuracy"] == 1.0 and result["classification"]["accuracy"] == 1.0


@pytest.mark.parametrize(("text", "label"), [
    ("Figure 3: Revenue by year", "Figure 3"), ("Fig. 2. Dusk temperature", "Fig. 2"), ("Fig 5 Flow", "Fig 5"),
    ("Table 2. Sites", "Table 2"), ("Chart 4: Budget", "Chart 4"), ("Exhibit 1 Sales", "Exhibit 1"),
    ("Figure 4b: Detail", "Figure 4b"), ("Table IV: Results", "Table IV"), ("Figure 15.4: Polar plot.", "Figure 15.4"),
    ("图 3 销售额", "图 3"), ("图3：销售额", "图3"), ("图３：预算", "图３"), ("图一 流程", "图一"), ("表2 站点", "表2"),
    ("Figure 2 shows the dry season", ""), ("Figures are provisional", ""), ("图书馆向所有市民开放", ""),
    ("The figure below", ""), ("Table of contents", ""),
])
def test_caption_labels(text, label):
    assert caption_label(text) == label


def test_eval_set_regenerates_identically(eval_set, tmp_path):
    again = make_eval_pdfs(tmp_path)
    assert [e["figures"] for e in again] == [e["figures"] for e in eval_set]
    assert [Path(e["file"]).read_bytes() for e in again] == [Path(e["file"]).read_bytes() for e in eval_set]


def test_line_art_over_an_image_is_one_mixed_figure(tmp_path):
    from sources.chart import figure_art as art

    doc = pymupdf.open()
    page = doc.new_page()
    box = art.draw_image(page, pymupdf.Rect(100, 100, 400, 300), art.photo_jpeg(np.random.default_rng(1)))
    page.draw_line((box[0] + 20, box[1] + 20), (box[0] + 120, box[1] + 90), color=(1, 1, 0), width=2)
    page.insert_text((100, box[3] + 14), "Figure 1: A marked photo.", fontsize=9)
    (region,) = find_figures(page)
    assert region.origin == "mixed" and region.caption == "Figure 1: A marked photo."
    assert iou(region.bbox, box) > 0.9
    assert classify_figure(crop(page, region.bbox)[0], region, page)[0] == "photo"


def test_a_page_of_thousands_of_separate_marks_is_searched_quickly():
    """cluster_drawings compares every pair of paths (5 s for 3,000); the grid keeps this linear."""
    import time

    doc = pymupdf.open()
    page = doc.new_page()
    shape = page.new_shape()
    for i in range(3000):
        x, y = 60 + (i % 55) * 8.5, 60 + (i // 55) * 12.5
        shape.draw_rect(pymupdf.Rect(x, y, x + 4, y + 4))
        shape.finish(fill=(0.2, 0.3, 0.8), color=None)
    shape.commit()
    start = time.perf_counter()
    find_figures(page)
    assert time.perf_counter() - start < 2.0


# -- failure modes found on real manuals (sources/chart/real_figures.json), rebuilt as small pages ----------

BODY = ("The survey covered every district twice, once in spring and once in autumn, with the same teams "
        "and the same forms, so that the two rounds can be compared directly.")


def _page(doc: pymupdf.Document | None = None) -> pymupdf.Page:
    return (doc or pymupdf.open()).new_page(width=595, height=842)


def _text(page: pymupdf.Page, x0: float, y0: float, x1: float, text: str, size: float = 10) -> pymupdf.Rect:
    """Set `text` in a box from (x0, y0) and return the box it filled."""
    box = pymupdf.Rect(x0, y0, x1, y0 + 300)
    left = page.insert_textbox(box, text, fontsize=size, lineheight=1.3)
    assert left >= 0
    return pymupdf.Rect(x0, y0, x1, box.y1 - left)


def _plot(page: pymupdf.Page, r: pymupdf.Rect, steps: bool = False) -> pymupdf.Rect:
    """Axes with ticks and one data line (a staircase with `steps`, as a survival curve is drawn)."""
    page.draw_line((r.x0, r.y1), (r.x1, r.y1), width=0.8)
    page.draw_line((r.x0, r.y0), (r.x0, r.y1), width=0.8)
    for k in range(1, 5):
        x = r.x0 + k * r.width / 5
        page.draw_line((x, r.y1), (x, r.y1 + 4), width=0.6)
    pts = [(r.x0 + k * r.width / 8, r.y0 + 8 + (k * 37 % 50) / 50 * (r.height - 16)) for k in range(9)]
    if steps:
        stair = [pts[0]]
        for a, b in zip(pts, pts[1:], strict=False):
            stair += [(b[0], a[1]), b]
        pts = stair
    page.draw_polyline(pts, color=(0.1, 0.3, 0.8), width=1.2)
    return r


def _found(page: pymupdf.Page, caption_start: str) -> list:
    return [f for f in find_figures(page) if f.caption.startswith(caption_start)]


def test_caption_below_a_plots_white_margin_is_found():
    """An R plot carries a wide white margin inside its graphic: on vcd's and zoo's vignettes the caption
    sits 45-70 pt under the last ink, past the old 40 pt limit."""
    page = _page()
    _text(page, 72, 72, 523, BODY)
    plot = _plot(page, pymupdf.Rect(150, 160, 450, 360))
    _text(page, 150, plot.y1 + 66, 450, "Figure 24: Counts with a significant maximum test.", size=9)
    (fig,) = _found(page, "Figure 24:")
    assert iou(fig.bbox, plot) > 0.8


def test_a_caption_between_two_figures_goes_to_the_one_left_without():
    """Two stacked mosaics: "Figure 7" sits 42 pt under the first and 34 pt over the second, whose own
    caption is 42 pt under it. Nearest-first gave "Figure 7" to the second and left the first bare."""
    page = _page()
    top = _plot(page, pymupdf.Rect(150, 100, 450, 330))  # ticks reach 4 pt under the box
    cap7 = _text(page, 150, top.y1 + 4 + 44, 450, "Figure 7: Mosaic plot for the observed data.", size=9)
    low = _plot(page, pymupdf.Rect(150, cap7.y1 + 30, 450, cap7.y1 + 260))
    _text(page, 150, low.y1 + 4 + 44, 450, "Figure 8: Mosaic plot for the expected values.", size=9)
    (f7,) = _found(page, "Figure 7:")
    (f8,) = _found(page, "Figure 8:")
    assert iou(f7.bbox, top) > 0.8 and iou(f8.bbox, low) > 0.8


def _grid(page: pymupdf.Page, r: pymupdf.Rect, rows: int = 3, cols: int = 3) -> pymupdf.Rect:
    for k in range(rows + 1):
        page.draw_line((r.x0, r.y0 + k * r.height / rows), (r.x1, r.y0 + k * r.height / rows), width=0.6)
    for k in range(cols + 1):
        page.draw_line((r.x0 + k * r.width / cols, r.y0), (r.x0 + k * r.width / cols, r.y1), width=0.6)
    for i in range(rows):
        for j in range(cols):
            at = (r.x0 + j * r.width / cols + 6, r.y0 + i * r.height / rows + 14)
            page.insert_text(at, f"cell {i}{j}", fontsize=8)
    return r


def test_a_ruled_grid_captioned_as_a_figure_is_a_figure():
    """A sieve plot, a panel layout, a viewport diagram: ruled grids with words in the cells, which the
    table rule took for uncaptioned tables and dropped although a "Figure" caption sat under them."""
    page = _page()
    grid = _grid(page, pymupdf.Rect(150, 120, 450, 300))
    _text(page, 150, grid.y1 + 20, 450, "Figure 6: Viewport layout for the displays.", size=9)
    for tables in (True, False):
        (fig,) = [f for f in find_figures(page, tables=tables) if f.caption.startswith("Figure 6:")]
        assert not fig.is_table_caption and iou(fig.bbox, grid) > 0.8


def test_panels_and_rows_of_one_figure_come_back_whole_under_its_caption():
    """A 2 x 2 panel figure whose panels lie 40 pt apart, and an association plot whose rows are bars on
    thin baselines 45 pt apart: pieces the merge rule keeps apart, which came back as fragments, the
    caption on one of them."""
    page = _page()
    _text(page, 72, 36, 523, BODY)
    for y in (90, 250):
        for x in (110, 320):
            _plot(page, pymupdf.Rect(x, y, x + 170, y + 120))
    cap = _text(page, 110, 400, 490, "Figure 30: Varying spacing. Top left: equal spacing.", size=9)
    rows = pymupdf.Rect(150, cap.y1 + 60, 450, cap.y1 + 300)
    for k in range(5):
        y = rows.y0 + k * 60
        page.draw_line((rows.x0, y), (rows.x1, y), width=0.5)
        for j in range(4):
            h = 6 + (k * 7 + j * 5) % 14
            page.draw_rect(pymupdf.Rect(rows.x0 + 20 + j * 70, y - h, rows.x0 + 50 + j * 70, y), color=(0, 0, 0),
                           fill=(0.8, 0.8, 0.8), width=0.5)
    _text(page, 150, rows.y0 + 4 * 60 + 30, 450, "Figure 10: Association plot.", size=9)
    (fig30,) = _found(page, "Figure 30:")
    whole = (110, 90, 490, 374)
    assert iou(fig30.bbox, whole) > 0.8
    (fig10,) = _found(page, "Figure 10:")
    assert fig10.bbox[1] <= rows.y0 - 6 and fig10.bbox[3] >= rows.y0 + 240 - 1
    assert len(find_figures(page)) == 2  # no fragment comes back on its own


def test_texinfo_caption_at_the_margin_under_a_centred_figure():
    """Texinfo sets "Figure 15.4: Polar plot." flush at the margin, clear of a narrow centred figure,
    with the body text indented and only code flush with it: no paragraph gave the caption its column."""
    page = _page()
    _text(page, 90, 80, 522, BODY)
    plot = _plot(page, pymupdf.Rect(240, 170, 400, 330))
    _text(page, 105, plot.y1 + 30, 217, "Figure 15.4: Polar plot.", size=9)
    _text(page, 90, plot.y1 + 60, 220, "polar (theta, rho)\npolar (theta, rho, fmt)\npolar (cplx)\n"
          "polar (cplx, fmt)\npolar (hax, ...)\nh = polar (...)", size=9)
    _text(page, 119, plot.y1 + 150, 522, BODY)
    (fig,) = _found(page, "Figure 15.4:")
    assert iou(fig.bbox, plot) > 0.8 and fig.label == "Figure 15.4"


def test_a_bare_label_set_apart_by_justification_keeps_its_caption_text():
    """zoo's captions are justified: "Figure 1:" and the words after it came back as two blocks, and the
    caption was the label alone."""
    page = _page()
    plot = _plot(page, pymupdf.Rect(150, 120, 450, 300))
    page.insert_text((203, plot.y1 + 30), "Figure 1:", fontsize=10)
    page.insert_text((255, plot.y1 + 30), "Example of a single panel plot", fontsize=10)
    (fig,) = _found(page, "Figure 1:")
    assert fig.caption == "Figure 1: Example of a single panel plot"


def test_a_diagram_of_labelled_boxes_is_found_by_its_caption():
    """Boxes with a word in each, joined by arrows: every box is framed text, so none was a figure,
    and the caption under them came back with nothing."""
    page = _page()
    _text(page, 72, 72, 523, BODY)
    boxes = []
    for k, (x, y, word) in enumerate([(150, 180, "Entry"), (260, 150, "Relapse"), (260, 220, "Death"),
                                      (380, 150, "Cured"), (380, 220, "Lost")]):
        r = pymupdf.Rect(x, y, x + 60, y + 24)
        page.draw_rect(r, width=0.7)
        page.insert_text((x + 6, y + 16), word, fontsize=9)
        boxes.append(r)
        if k:
            page.draw_line(boxes[0].br if k < 3 else boxes[k - 2].br, r.tl, width=0.5)
    _text(page, 150, 290, 450, "Figure 2: Three models for the data.", size=9)
    (fig,) = _found(page, "Figure 2:")
    assert iou(fig.bbox, (150, 150, 440, 244)) > 0.8


def test_a_plot_with_a_long_key_is_not_taken_for_prose():
    """A survival curve is all horizontal and vertical strokes, and its four-line key has 16 words: the
    key counted as a paragraph, so the plot counted as a boxed paragraph and was dropped."""
    page = _page()
    plot = _plot(page, pymupdf.Rect(120, 120, 400, 340), steps=True)
    _text(page, 260, 250, 395, "A, transplant without CR\nB, transplant without CR\nA, transplant after CR\n"
          "B, transplant after CR", size=7)
    _text(page, 98, plot.y1 + 40, 513, "Figure 2.5: Transplant status of the subjects.", size=9)
    (fig,) = _found(page, "Figure 2.5:")
    assert iou(fig.bbox, plot) > 0.8


def test_a_line_clipped_to_its_figure_does_not_reach_over_the_next_caption(tmp_path):
    """An included plot whose data line leaves the axes is clipped there; the line's unclipped box
    reached over the next figure's caption, which then could not be paired."""
    src = pymupdf.open()
    fig_page = src.new_page(width=300, height=150)
    _plot(fig_page, pymupdf.Rect(20, 10, 280, 130))
    fig_page.draw_line((150, 40), (200, 600), color=(0.8, 0.1, 0.1), width=1)  # off the graphic, clipped
    src.save(tmp_path / "fig.pdf")
    doc = pymupdf.open()
    page = _page(doc)
    with pymupdf.open(tmp_path / "fig.pdf") as figure:
        page.show_pdf_page(pymupdf.Rect(148, 100, 448, 250), figure, 0)
        cap1 = _text(page, 148, 270, 448, "Figure 1: Experiment I.", size=9)
        page.show_pdf_page(pymupdf.Rect(148, cap1.y1 + 20, 448, cap1.y1 + 170), figure, 0)
    _text(page, 148, cap1.y1 + 190, 448, "Figure 2: Experiment II.", size=9)
    assert len(_found(page, "Figure 1:")) == len(_found(page, "Figure 2:")) == 1
    (fig1,) = _found(page, "Figure 1:")
    assert fig1.bbox[3] <= 252


def test_a_figure_wider_than_its_column_and_a_small_one_beside_text():
    """A plot sticking out past the text column into the margin keeps its caption, and so does a small
    plot set beside a paragraph with its caption under it."""
    page = _page()
    _text(page, 72, 72, 523, BODY)
    wide = _plot(page, pymupdf.Rect(40, 130, 560, 300))
    _text(page, 72, wide.y1 + 16, 523, "Figure 3.2: Wider than the text.", size=9)
    _text(page, 72, 360, 330, BODY + " " + BODY)
    small = _plot(page, pymupdf.Rect(360, 365, 520, 460))
    _text(page, 360, small.y1 + 12, 523, "Figure 3.3: Beside the text.", size=9)
    _text(page, 72, 520, 523, BODY)
    (f32,) = _found(page, "Figure 3.2:")
    (f33,) = _found(page, "Figure 3.3:")
    assert iou(f32.bbox, wide) > 0.8 and iou(f33.bbox, small) > 0.7


def test_a_header_rule_and_a_boxed_note_stay_out_of_a_figure():
    """The zone a caption searches is bounded by text, not by a page's running header rule or a shaded
    note over the figure: neither joins it."""
    page = _page()
    page.draw_line((72, 60), (523, 60), width=0.5)
    page.insert_text((72, 55), "Chapter 3: Plots", fontsize=9)
    note = _text(page, 72, 80, 523, "Note: all values are provisional.")
    page.draw_rect(note + (-4, -4, 4, 4), color=None, fill=(1, 0.95, 0.7), overlay=False)
    plot = _plot(page, pymupdf.Rect(72, 130, 523, 330))
    _text(page, 72, plot.y1 + 20, 523, "Figure 3: Sites by depth.", size=9)
    (fig,) = _found(page, "Figure 3:")
    assert iou(fig.bbox, plot) > 0.8 and fig.bbox[1] > 100


REAL_ROOT = Path(__import__("os").environ.get("VLFORGE_REAL_DOCS", "/work/realdocs/x"))


@pytest.mark.skipif(not REAL_ROOT.exists(), reason="real manuals not unpacked (see sources/chart/real_figures.json)")
def test_real_manuals_meet_the_measured_floor():
    """Measured: 105/105 figures found with their caption and 105/105 regions right (before the rules
    for real manuals: 75/105 and 84/141). The floors sit a little below, so a real regression fails
    and one odd page does not."""
    from sources.chart.figure_eval import evaluate_real

    result = evaluate_real(REAL_ROOT)
    if result["missing"]:
        pytest.skip(f"not unpacked: {result['missing']}")
    assert result["total"]["recall"] >= 0.97 and result["total"]["precision"] >= 0.95


def test_a_figure_turned_sideways_takes_its_turned_caption():
    """A wide figure set sideways in a portrait manual (vcd's shadings, partykit's J48 tree): its caption
    is turned too and stands beside it, where no caption above or below was looked for."""
    page = _page()
    left = _plot(page, pymupdf.Rect(100, 140, 250, 700))
    right = _plot(page, pymupdf.Rect(290, 140, 440, 700))
    page.insert_text((485, 700), "Figure 2: Upper row: mosaic plots. Lower row: association plots.", fontsize=9,
                     rotate=90)
    (fig,) = _found(page, "Figure 2:")
    assert iou(fig.bbox, _union_box(left, right)) > 0.8
    assert len(find_figures(page)) == 1


def _union_box(a: pymupdf.Rect, b: pymupdf.Rect) -> tuple[float, float, float, float]:
    return (min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1) + 4)
