"""The PDF source on its own, without Ray: planning, rendering, text layers and every bad input."""

import io
import json
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from pipelines.config import config_class
from pipelines.schema import ERROR_COL
from sources.pdf import PdfConfig, PdfSource, find_pdfs
from sources.pdf_content import PageContent
from tests.pdfs import text_pdf


def expand_all(src, inputs):
    rows = []
    for unit in src.plan([str(p) for p in inputs]):
        rows.extend(src.expand(unit))
    return rows


def test_pages_pair_the_render_with_the_exact_text_layer(tmp_path):
    pdf = text_pdf(tmp_path / "doc.pdf", ["Alpha page speaks of rivers.", "Beta page speaks of hills."])
    rows = expand_all(PdfSource(), [pdf])
    pages = [r for r in rows if r["kind"] == "page"]
    texts = [r for r in rows if r["kind"] == "text"]
    assert [p["locator"] for p in pages] == ["page=1", "page=2"]
    assert "Alpha page speaks of rivers." in pages[0]["text"] and "Beta" in pages[1]["text"]
    assert [t["text"] for t in texts] == [p["text"] for p in pages] and all(t.get("image") is None for t in texts)
    im = Image.open(io.BytesIO(pages[0]["image"]["bytes"]))
    assert im.format == "PNG" and im.size == (pages[0]["width"], pages[0]["height"]) == (1190, 1684)  # A4 at 144 dpi
    meta = json.loads(pages[0]["meta"])
    assert meta["text_layer"] is True and meta["page"] == 1 and meta["dpi"] == 144


def test_ids_are_stable_across_runs_and_unique(tmp_path):
    pdf = text_pdf(tmp_path / "doc.pdf", ["one", "two", "three"])
    a = [r["id"] for r in expand_all(PdfSource(), [pdf])]
    b = [r["id"] for r in expand_all(PdfSource(), [pdf])]
    assert a == b and len(set(a)) == len(a)


def test_plan_splits_long_pdfs_into_page_ranges_and_honours_limit(tmp_path):
    pdf = text_pdf(tmp_path / "long.pdf", [f"page {i}" for i in range(20)])
    src = PdfSource(PdfConfig(pages_per_unit=8, documents=False))
    assert [(u.params["start"], u.params["end"]) for u in src.plan([str(pdf)])] == [(0, 8), (8, 16), (16, 20)]
    limited = src.plan([str(pdf)], limit=10)
    assert sum(u.size for u in limited) == 10
    assert sum(1 for u in limited for r in src.expand(u) if r["kind"] == "page") == 10


def test_folders_are_searched_recursively_in_a_stable_order(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    text_pdf(tmp_path / "a" / "b" / "deep.pdf", ["x"])
    text_pdf(tmp_path / "a" / "top.PDF", ["x"])
    (tmp_path / "a" / "notes.txt").write_text("not a pdf")
    assert [f.uri for f in find_pdfs([str(tmp_path)])] == ["a/b/deep.pdf", "a/top.PDF"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_pdfs([str(tmp_path / "missing")])


def test_giant_page_is_rendered_within_the_pixel_cap(tmp_path):
    doc = pymupdf.open()
    doc.new_page(width=14400, height=14400).insert_text((100, 100), "a poster", fontsize=200)
    doc.save(tmp_path / "poster.pdf")
    rows = expand_all(PdfSource(PdfConfig(max_pixels=4_000_000)), [tmp_path / "poster.pdf"])
    page = next(r for r in rows if r["kind"] == "page")
    assert page["width"] * page["height"] <= 4_000_000 and page["width"] > 1500
    assert json.loads(page["meta"])["downscaled"] is True


def test_embedded_corpus_has_prose_a_table_a_chart_and_chinese(corpus):
    rows = expand_all(PdfSource(), [corpus])
    text = "\n".join(r["text"] for r in rows if r["kind"] == "page")
    assert "Table 1: Water consumption by customer group" in text
    assert "Figure 1: Share of treated water lost to leakage" in text and "Fig. 1." in text
    assert "公共图书馆" in text
    assert len([r for r in rows if r["kind"] == "page"]) == 6


@pytest.mark.parametrize("kind", ["EmptyFile", "NotAPDF", "EncryptedPDF", "NoPages", "DamagedPDF"])
def test_each_unreadable_file_raises_a_clear_input_error(bad_pdfs, kind):
    src = PdfSource()
    (unit,) = src.plan([str(bad_pdfs[kind])])
    with pytest.raises(Exception) as info:
        list(src.expand(unit))
    assert info.value.error_type == kind
    assert bad_pdfs[kind].name in str(info.value)


def test_a_page_that_fails_to_render_costs_only_that_page(bad_pdfs):
    rows = expand_all(PdfSource(), [bad_pdfs["PageRenderError"]])
    errors = [json.loads(r[ERROR_COL]) for r in rows if r.get(ERROR_COL)]
    assert len(errors) == 1 and errors[0]["error_type"] == "PageRenderError"
    assert "page 2" in errors[0]["message"] and "zlib" in errors[0]["message"]
    assert [r["locator"] for r in rows if r.get("kind") == "page"] == ["page=1", "page=3"]


def test_lenient_render_keeps_a_damaged_page(bad_pdfs):
    rows = expand_all(PdfSource(PdfConfig(strict_render=False)), [bad_pdfs["PageRenderError"]])
    assert [r["locator"] for r in rows if r.get("kind") == "page"] == ["page=1", "page=2", "page=3"]


def test_a_repaired_pdf_is_recorded_and_its_recovered_pages_kept(tmp_path):
    good = text_pdf(tmp_path / "g.pdf", ["first page text"] * 3).read_bytes()
    cut = Path(tmp_path / "cut.pdf")
    cut.write_bytes(good[: int(len(good) * 0.9)])  # lose the xref table: MuPDF rebuilds it
    rows = expand_all(PdfSource(), [cut])
    errors = [json.loads(r[ERROR_COL]) for r in rows if r.get(ERROR_COL)]
    assert any(e["error_type"] == "DamagedPDF" and "repaired" in e["message"] for e in errors)
    assert any(r.get("kind") == "page" and "first page text" in r["text"] for r in rows)


def test_an_unknown_image_format_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="pdf.image_format must be png or jpeg, got 'gif'"):
        config_class()().replace("pdf", image_format="gif").validate()


def test_the_page_png_holds_exactly_the_rendered_pixels(tmp_path):
    """Pages are written by `images.pixmap_png` (zlib-ng's deflate, 9x faster than MuPDF's writer): the
    same pixels and dpi as MuPDF's own PNG, only the compressed bytes differ."""
    pdf = text_pdf(tmp_path / "doc.pdf", ["Alpha page speaks of rivers."])
    src = PdfSource(PdfConfig(figures=False, documents=False))
    (page,) = [r for r in expand_all(src, [pdf]) if r["kind"] == "page"]
    ours = Image.open(io.BytesIO(page["image"]["bytes"]))
    with pymupdf.open(pdf) as doc:
        theirs = Image.open(io.BytesIO(doc[0].get_pixmap(matrix=pymupdf.Matrix(2, 2), alpha=False).tobytes("png")))
    assert ours.mode == theirs.mode == "RGB" and ours.tobytes() == theirs.tobytes()
    assert ours.info["dpi"] == theirs.info["dpi"]


def scan(path: Path, dpi: int, pages: int = 1) -> Path:
    """An image-only PDF (no text layer): A4 pages, each one picture at `dpi`."""
    src = text_pdf(path.with_suffix(".src.pdf"), [f"Page {i + 1} speaks of rivers." for i in range(pages)])
    with pymupdf.open(src) as s:
        doc = pymupdf.open()
        for page in s:
            new = doc.new_page(width=page.rect.width, height=page.rect.height)
            new.insert_image(new.rect, stream=page.get_pixmap(dpi=dpi, alpha=False).tobytes("png"))
        doc.save(path)
    return path


@pytest.mark.parametrize(("scan_dpi", "cap", "rendered"), [(200, 300, 200), (300, 250, 250), (100, 300, 144),
                                                           (200, 144, 144)])
def test_a_scan_is_rendered_at_its_own_resolution_up_to_the_cap(tmp_path, scan_dpi, cap, rendered):
    """OCR reads a 200-dpi scan's own pixels, not a 144-dpi reduction (Debian's R-data manual scanned at
    200 dpi: CER 0.054 -> 0.0045); a coarser scan, or a cap at `dpi`, renders at `dpi` as before."""
    pdf = scan(tmp_path / "scan.pdf", scan_dpi)
    src = PdfSource(PdfConfig(figures=False, documents=False, scan_max_dpi=cap))
    (page,) = [r for r in expand_all(src, [pdf]) if r["kind"] == "page"]
    meta = json.loads(page["meta"])
    assert meta["text_layer"] is False and round(meta["scan_dpi"]) == scan_dpi
    assert round(meta["dpi"]) == rendered and abs(page["width"] - 595.28 * rendered / 72) <= 1


def test_a_born_digital_page_is_rendered_at_dpi_whatever_its_images(tmp_path):
    pdf = text_pdf(tmp_path / "doc.pdf", ["Alpha page speaks of rivers."])
    src = PdfSource(PdfConfig(figures=False, documents=False))
    (page,) = [r for r in expand_all(src, [pdf]) if r["kind"] == "page"]
    meta = json.loads(page["meta"])
    assert meta["dpi"] == 144 and "scan_dpi" not in meta


def test_a_page_is_read_from_one_display_list_as_pymupdfs_own_calls_read_it(tmp_path):
    """The source interprets a page's content once (`PageContent`) for its render, text layer, image boxes
    and figure crops: each must be exactly what PyMuPDF's page-level call gives, on a page with an image and
    an annotation, upright and turned (PyMuPDF reads a turned page's text unrotated)."""
    doc = pymupdf.open()
    for rotation in (0, 90, 270):
        page = doc.new_page()
        page.insert_text((72, 72), "Body text of the page")
        page.add_freetext_annot(pymupdf.Rect(72, 100, 300, 140), "Annotation words")
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 30), 0)
        pix.set_rect(pix.irect, (200, 30, 30))
        page.insert_image(pymupdf.Rect(72, 200, 200, 300), pixmap=pix)
        page.set_rotation(rotation)
    doc = pymupdf.open("pdf", doc.tobytes())
    for page in doc:
        content = PageContent(page)
        own = page.get_textpage(flags=pymupdf.TEXTFLAGS_TEXT)
        assert page.get_text("dict", textpage=content.textpage()) == page.get_text("dict", textpage=own)
        assert "Annotation words" in page.get_text("text", textpage=content.textpage())
        assert content.images == page.get_image_info() and len(content.images) == 1
        clip = pymupdf.Rect(60, 60, 250, 320)
        for zoom, box in ((2.0, None), (200 / 72, clip)):
            mine, theirs = content.pixmap(zoom, box), page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=box)
            assert (mine.width, mine.height, mine.samples) == (theirs.width, theirs.height, theirs.samples)
