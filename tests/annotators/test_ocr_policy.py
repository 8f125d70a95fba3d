"""OCR where it pays (`ocr.policy`): text layers stand in for OCR on born-digital pages, exactly; OCR reads
scans, garbled layers, layers that miss the page's ink, and every page of a document whose audit fails."""

from __future__ import annotations

import json

import numpy as np
import pymupdf
import pytest

from annotators.ocr.audit import AUDIT_LINES, Auditor, audit_lines, audit_pages
from annotators.ocr.backend import BackendUnavailable, OcrConfig
from annotators.ocr.cer import cer
from annotators.ocr.stage import OcrStage
from annotators.ocr.tesseract import tessdata_dir
from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.schema import to_table
from pipelines.shards import read_shards
from sources.pdf import PdfConfig, PdfSource
from sources.pdf_layer import text_lines
from tests.pdfs import text_pdf

AUTO = OcrConfig(policy="auto")
BODY = ("Harbour water rose in July and the pumps ran all night.\n"
        "The ferry kept its timetable although the quay was flooded.\n"
        "Fishermen moved their boats to the inner basin before the storm.")


def pages(path, config=AUTO, state=None):
    src = PdfSource(PdfConfig(figures=False, text_samples=False), config)
    src.state_dir = state
    src.setup()
    return [r for u in src.plan([str(path)]) for r in src.expand(u) if r.get("kind") == "page"]


def meta(row) -> dict:
    return json.loads(row["meta"])


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def ink_box(png: bytes, box) -> tuple[float, float, float, float] | None:
    """The bounding box of the dark pixels inside `box` (x0, y0, x1, y1) of a rendered page."""
    from io import BytesIO

    from PIL import Image

    a = np.asarray(Image.open(BytesIO(png)).convert("L"))
    x0, y0, x1, y1 = (int(v) for v in box)
    ys, xs = np.nonzero(a[max(0, y0 - 4):y1 + 4, max(0, x0 - 4):x1 + 4] < 128)
    if not len(xs):
        return None
    return x0 - 4 + xs.min(), y0 - 4 + ys.min(), x0 - 4 + xs.max() + 1, y0 - 4 + ys.max() + 1


def scan_of(path, out, dpi=200):
    """`path` turned into an image-only PDF: each page is a picture of itself, no text layer."""
    src, doc = pymupdf.open(path), pymupdf.open()
    for page in src:
        new = doc.new_page(width=page.rect.width, height=page.rect.height)
        new.insert_image(new.rect, stream=page.get_pixmap(dpi=dpi, alpha=False).tobytes("png"))
    doc.save(out)
    return out


def test_born_digital_page_takes_exact_lines_from_its_text_layer(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(50, 50, 550, 300), BODY, fontsize=11)
    doc.save(tmp_path / "a.pdf")
    (row,) = pages(tmp_path / "a.pdf", OcrConfig(policy="auto", audit_share=0))
    m = meta(row)
    assert m["ocr_source"] == "text_layer" and "ocr_needed" not in m
    assert [line["text"] for line in row["ocr"]] == BODY.splitlines()
    assert row["ocr_text"] == BODY and all(line["score"] == 1.0 for line in row["ocr"])
    zoom = m["dpi"] / 72
    for line in row["ocr"]:
        (found,) = pymupdf.open(tmp_path / "a.pdf")[0].search_for(line["text"])
        box = line["box"]
        assert iou((box[0], box[1], box[4], box[5]), tuple(v * zoom for v in found)) > 0.9


@pytest.mark.parametrize("shape", ["rotated", "cropped"])
def test_line_boxes_stand_where_the_render_shows_the_text(tmp_path, shape):
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=300)
    page.insert_text((60, 80), "Tide tables for the northern harbour", fontsize=14)
    if shape == "rotated":
        page.set_rotation(90)
    else:
        page.set_cropbox(pymupdf.Rect(40, 40, 380, 260))
    doc.save(tmp_path / "p.pdf")
    (row,) = pages(tmp_path / "p.pdf", OcrConfig(policy="auto", audit_share=0))
    (line,) = row["ocr"]
    box = (line["box"][0], line["box"][1], line["box"][4], line["box"][5])
    assert 0 <= box[0] < box[2] <= row["width"] and 0 <= box[1] < box[3] <= row["height"]
    ink = ink_box(row["image"]["bytes"], box)  # the glyphs' pixels, searched a little around the box
    assert ink is not None, box
    assert box[0] - 2 <= ink[0] and box[1] - 2 <= ink[1] and ink[2] <= box[2] + 2 and ink[3] <= box[3] + 2, (box, ink)
    assert iou(box, ink) > 0.45, (box, ink)  # a line box also spans the font's ascent and descent


def test_scan_garbled_and_outlined_pages_are_left_to_ocr(tmp_path):
    doc = pymupdf.open()
    doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 300), BODY, fontsize=11)
    broken = "\ufffd\ufffd\ufffd (cid:12)(cid:40) " * 20
    doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 300), broken, fontsize=11)
    outlined = doc.new_page()  # a small real text layer over a big picture of text (a partial scan)
    outlined.insert_text((50, 40), "Appendix", fontsize=9)
    picture = pymupdf.open()
    picture.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 800), (BODY + "\n") * 8, fontsize=11)
    outlined.insert_image(pymupdf.Rect(0, 60, 595, 842), stream=picture[0].get_pixmap(dpi=150).tobytes("png"))
    doc.save(tmp_path / "mixed.pdf")
    scan = scan_of(tmp_path / "mixed.pdf", tmp_path / "scan.pdf")
    fine, garbled, partial = pages(tmp_path / "mixed.pdf", OcrConfig(policy="auto", audit_share=0))
    (scanned, _, _) = pages(scan, OcrConfig(policy="auto", audit_share=0))
    assert meta(fine)["ocr_source"] == "text_layer"
    assert meta(garbled)["ocr_needed"] == "garbled" and garbled["ocr"] is None
    assert meta(partial)["ocr_needed"] == "low_text_ink" and meta(partial)["layer_check"]["text_ink"] < 0.35
    assert meta(scanned)["ocr_needed"] == "no_text_layer" and scanned["ocr"] is None


def test_ocr_stage_reads_only_what_needs_it_and_scans_and_partial_scans_take_ocr_text(tmp_path):
    doc = pymupdf.open()
    doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 300), BODY, fontsize=11)
    partial = doc.new_page()
    partial.insert_text((50, 40), "Appendix", fontsize=9)
    picture = pymupdf.open()
    picture.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 800), BODY, fontsize=11)
    partial.insert_image(pymupdf.Rect(0, 60, 595, 842), stream=picture[0].get_pixmap(dpi=150).tobytes("png"))
    doc.save(tmp_path / "doc.pdf")
    scan = scan_of(tmp_path / "doc.pdf", tmp_path / "scan.pdf")
    rows = pages(tmp_path / "doc.pdf", OcrConfig(policy="auto", audit_share=0)) + pages(scan, AUTO)
    stage = OcrStage(AUTO)
    stage.setup()
    fine, part, scanned, _ = stage.process(to_table(rows)).to_pylist()
    given = [(ln["text"], ln["box"]) for ln in rows[0]["ocr"]]
    assert [(ln["text"], pytest.approx(ln["box"])) for ln in fine["ocr"]] == given
    assert "ocr" not in meta(fine) and not (fine["quality"] or {}).get("ocr_conf")  # never read
    assert meta(part)["text_source"] == "ocr" and cer(BODY, part["text"].replace("Appendix", "")) < 0.05
    assert meta(scanned)["text_source"] == "ocr" and meta(scanned)["ocr_source"] == "ocr"
    assert cer(BODY, scanned["text"]) < 0.05 and scanned["quality"]["ocr_conf"] > 0.8


def test_audit_pages_are_a_fixed_share_with_at_least_one_page_with_text():
    with_text = set(range(3, 1000))
    chosen = audit_pages("manual.pdf", 1000, 0.02, with_text.__contains__)
    assert chosen == audit_pages("manual.pdf", 1000, 0.02, with_text.__contains__)  # repeatable
    assert 8 <= len(chosen) <= 35 and set(chosen) <= with_text
    assert audit_pages("other.pdf", 1000, 0.02, with_text.__contains__) != chosen  # spread by document
    assert len(audit_pages("short.pdf", 3, 0.02, lambda n: n == 2)) == 1  # at least one, and one with text
    assert audit_pages("blank.pdf", 3, 0.5, lambda n: False) == []


def test_audits_read_a_fixed_sample_of_real_lines_and_read_short_pages_whole():
    box = (10.0, 20.0, 300.0, 40.0)
    words = [(f"line {i} of the running text", box) for i in range(40)]
    leaders = [("Introduction . . . . . . . . . . . 3", box), ("17", box), ("iv", box)]
    chosen = audit_lines("manual.pdf", 4, leaders + words)
    assert len(chosen) == AUDIT_LINES and all(c in words for c in chosen)  # no leaders, no page numbers
    assert chosen == audit_lines("manual.pdf", 4, leaders + words)  # repeatable
    assert chosen != audit_lines("manual.pdf", 5, leaders + words)  # spread by page
    assert chosen == sorted(chosen, key=(leaders + words).index)  # in page order
    assert audit_lines("manual.pdf", 4, leaders * 10 + words[:5]) == []  # too few fit: the page is read whole


@pytest.mark.parametrize("lines", [3, 8])  # too few lines to sample: the page is read whole; enough: line by line
def test_a_document_whose_layer_says_something_else_is_ocred_in_full_and_the_verdict_is_kept(tmp_path, lines):
    """An invisible text layer that does not match the scan under it: the audit reads the scan, disagrees,
    and every page goes to OCR; a second worker (another Auditor) reads the verdict from the run's state."""
    doc = pymupdf.open()
    picture = pymupdf.open()
    picture.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 300), BODY, fontsize=11)
    image = picture[0].get_pixmap(dpi=150).tobytes("png")
    for _ in range(3):
        page = doc.new_page()
        page.insert_image(page.rect, stream=image)
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 300),
                            "Quarterly revenue grew in every region except the south.\n" * lines,
                            fontsize=11, render_mode=3)  # invisible, and wrong
    doc.save(tmp_path / "lying.pdf")
    layer = [(line.text, (0.0, 0.0, 1.0, 1.0)) for line in text_lines(pymupdf.open(tmp_path / "lying.pdf")[0])]
    assert bool(audit_lines("lying.pdf", 0, layer)) == (lines == 8)  # read line by line, or whole
    rows = pages(tmp_path / "lying.pdf", AUTO, state=tmp_path / "state")
    assert [meta(r).get("ocr_needed") for r in rows] == ["audit_failed"] * 3
    audited = [r for r in rows if "ocr_audit" in meta(r)]
    assert len(audited) >= 1 and meta(audited[0])["ocr_audit"]["cer"] > 0.5
    saved = list((tmp_path / "state" / "ocr_audit").glob("*.json"))
    assert len(saved) == 1

    class Counting(Auditor):
        def _compute(self, *a, **k):
            raise AssertionError("the verdict should have been read from the run's state")

    again = PdfSource(PdfConfig(figures=False, text_samples=False), AUTO)
    again.state_dir = tmp_path / "state"
    again.auditor = Counting(AUTO)
    units = again.plan([str(tmp_path / "lying.pdf")])
    assert [meta(r)["ocr_needed"] for r in again.expand(units[0]) if r["kind"] == "page"] == ["audit_failed"] * 3


def test_policy_is_validated_and_none_turns_ocr_off():
    with pytest.raises(ValueError, match="policy must be one of auto, all, none"):
        OcrConfig(policy="sometimes").validate()
    assert not OcrStage.enabled(OcrConfig(policy="none")) and OcrStage.enabled(OcrConfig(policy="auto"))
    assert not OcrStage(AUTO).resources.actor and OcrStage(OcrConfig(policy="all")).resources.actor


@pytest.mark.usefixtures("ray_session")
def test_auto_build_reads_born_digital_pages_from_the_layer_and_scans_by_ocr(tmp_path):
    doc = pymupdf.open()
    for i in range(3):
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 300), f"Section {i + 1}\n" + BODY, fontsize=11)
    (tmp_path / "in").mkdir()
    doc.save(tmp_path / "in" / "digital.pdf")
    scan_of(tmp_path / "in" / "digital.pdf", tmp_path / "in" / "scanned.pdf")
    cfg = Config().replace("run", inputs=(str(tmp_path / "in"),), filters=False).replace("dedup", enabled=False)
    cfg = cfg.replace("pdf", figures=False, text_samples=False, documents=False)  # page rows only
    result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "out"))
    rows = {r["uri"] + r["locator"]: r for r in read_shards(tmp_path / "out").to_pylist()}
    assert result.stats["errors"] == 0 and len(rows) == 6
    for i in range(3):
        digital, scanned = rows[f"digital.pdfpage={i + 1}"], rows[f"scanned.pdfpage={i + 1}"]
        assert meta(digital)["ocr_source"] == "text_layer" and "ocr" not in meta(digital)
        assert meta(scanned)["text_source"] == "ocr" and cer(digital["text"], scanned["text"]) < 0.05
    audited = [r for r in rows.values() if (r["quality"] or {}).get("ocr_cer") is not None]
    assert audited and all(r["quality"]["ocr_cer"] < 0.1 for r in audited)
    assert result.stats["stages"]["ocr"]["rows_in"] == 6


def test_a_scan_lying_upside_down_or_sideways_is_read_the_right_way_up(tmp_path):
    from io import BytesIO

    from PIL import Image

    picture = pymupdf.open()
    picture.new_page(width=595, height=300).insert_textbox(pymupdf.Rect(40, 40, 560, 260), BODY, fontsize=12)
    upright = Image.open(BytesIO(picture[0].get_pixmap(dpi=150).tobytes("png"))).convert("RGB")
    stage = OcrStage(AUTO)
    stage.setup()
    for angle in (180, 90):
        buf = BytesIO()
        upright.rotate(angle, expand=True).save(buf, "PNG")
        lines = stage.read(buf.getvalue(), upright=False)
        assert cer(BODY, "\n".join(line.text for line in lines)) < 0.05, angle
        turned = Image.open(BytesIO(buf.getvalue()))
        for line in lines:  # boxes stand on the image as given, not on the turned copy OCR read
            assert all(0 <= x <= turned.width + 1 for x in line.box[0::2])
            assert all(0 <= y <= turned.height + 1 for y in line.box[1::2])
            x0, y0, x1, y1 = min(line.box[0::2]), min(line.box[1::2]), max(line.box[0::2]), max(line.box[1::2])
            assert (x1 - x0 > y1 - y0) == (angle == 180)  # a sideways page's lines run down the image


def test_audits_load_cjk_packs_only_for_cjk_text_and_preflight_still_checks_them(tmp_path, monkeypatch):
    """A worker's auditor loads Tesseract's latin packs alone; the CJK packs load when a line with CJK text
    comes to audit. The driver's preflight loads every pack, so a missing one still stops the run first."""
    src = PdfSource(PdfConfig(figures=False, text_samples=False), AUTO)
    src.setup()
    assert src.auditor.latin is not None and src.auditor._backend is None
    pdf = text_pdf(tmp_path / "doc.pdf", ["An English page with enough words on it to audit."] * 2)
    rows = [r for unit in src.plan([str(pdf)]) for r in src.expand(unit)]
    assert any("ocr_audit" in meta(r) for r in rows) and src.auditor._backend is None
    assert src.auditor._backend_for("图书馆的开放时间") is src.auditor.backend
    assert src.auditor._backend is not None and src.auditor._backend_for("plain words") is src.auditor.latin

    only_eng = tmp_path / "tessdata"
    only_eng.mkdir()
    (only_eng / "eng.traineddata").symlink_to(tessdata_dir() / "eng.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(only_eng))
    Auditor(AUTO).setup()  # a worker would start: it never asks for the CJK packs up front
    with pytest.raises(BackendUnavailable, match="chi_sim.*tesseract-ocr-chi-sim"):
        PdfSource(PdfConfig(), AUTO).preflight()
