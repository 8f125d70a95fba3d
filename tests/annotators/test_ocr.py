"""OCR backends read rendered pages for real; the stage fills the sample; scans get their text from OCR."""

from __future__ import annotations

import json
import subprocess
import sys

import pymupdf
import pytest

from annotators.ocr.backend import BackendUnavailable, OcrConfig, OcrLine, make_backend, reading_order, rect_box
from annotators.ocr.cer import cer, normalise
from annotators.ocr.stage import OcrStage
from pipelines.schema import to_table
from tests.conftest import REPO

ENGLISH = "The river rose two metres overnight.\nFerries stopped at noon on Tuesday."
CHINESE = "公共图书馆向所有市民免费开放。\n每张借书证最多可以借阅十册图书。"


def render(text: str, font: str = "helv", size: float = 12) -> bytes:
    """A strip of an A4 page with known text, rendered at 144 dpi like the PDF source does."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=160)
    page.insert_textbox(pymupdf.Rect(56, 40, 539, 140), text, fontsize=size, fontname=font)
    return page.get_pixmap(dpi=144, alpha=False).tobytes("png")


@pytest.fixture(scope="module")
def stages():
    """One loaded stage per backend that can run here (models load once for the module)."""
    loaded = {}
    for name in ("rapidocr", "tesseract"):
        stage = OcrStage(OcrConfig(backend=name))
        stage.setup()
        loaded[name] = stage
    return loaded


@pytest.mark.parametrize("backend", ["rapidocr", "tesseract"])
def test_backend_reads_english_page(stages, backend):
    lines = stages[backend].read(render(ENGLISH))
    assert cer(ENGLISH, "\n".join(line.text for line in lines)) < 0.03
    assert [line.text.split()[0] for line in lines] == ["The", "Ferries"]  # reading order
    assert all(0.5 <= line.score <= 1.0 and len(line.box) == 8 for line in lines)


@pytest.mark.parametrize("backend", ["rapidocr", "tesseract"])
def test_backend_reads_chinese_page(stages, backend):
    lines = stages[backend].read(render(CHINESE, font="china-s"))
    assert cer(CHINESE, "\n".join(line.text for line in lines)) < 0.1


def test_stage_fills_ocr_columns_and_measures_agreement_with_the_text_layer(stages):
    rows = [{"id": "p", "kind": "page", "image": {"bytes": render(ENGLISH), "path": None}, "text": ENGLISH,
             "meta": "{}", "keep": True},
            {"id": "t", "kind": "text", "text": ENGLISH, "keep": True}]
    out = stages["rapidocr"].process(to_table(rows)).to_pylist()
    page, text = out
    assert normalise(page["ocr_text"]) == normalise("\n".join(line["text"] for line in page["ocr"]))
    assert page["quality"]["ocr_conf"] > 0.8 and page["quality"]["ocr_cer"] < 0.03
    assert page["text"] == ENGLISH and json.loads(page["meta"])["ocr"].startswith("rapidocr")
    assert text["ocr"] is None and text["ocr_text"] is None  # no image, nothing to read


def test_a_scanned_page_takes_its_text_from_ocr(stages, tmp_path):
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=160)
    page.insert_image(page.rect, stream=render(ENGLISH))  # an image of text, no text layer
    doc.save(tmp_path / "scan.pdf")
    from sources.pdf import PdfSource

    src = PdfSource()
    (row,) = [r for u in src.plan([str(tmp_path / "scan.pdf")]) for r in src.expand(u) if r["kind"] == "page"]
    assert row["kind"] == "page" and not row["text"].strip()
    out = stages["rapidocr"].process(to_table([row])).to_pylist()[0]
    assert cer(ENGLISH, out["text"]) < 0.05 and json.loads(out["meta"])["text_source"] == "ocr"


def test_reading_order_reads_title_then_each_column():
    title = OcrLine("Title", 1.0, rect_box(100, 10, 700, 40))
    left = [OcrLine(f"L{i}", 1.0, rect_box(50, 60 + 30 * i, 380, 80 + 30 * i)) for i in range(4)]
    right = [OcrLine(f"R{i}", 1.0, rect_box(420, 60 + 30 * i, 750, 80 + 30 * i)) for i in range(4)]
    shuffled = [right[2], left[3], title, right[0], left[0], right[3], left[1], right[1], left[2]]
    assert [line.text for line in reading_order(shuffled)] == ["Title", "L0", "L1", "L2", "L3", "R0", "R1", "R2", "R3"]


def test_words_on_one_row_read_left_to_right():
    words = [OcrLine(w, 1.0, rect_box(x, 10 + dy, x + 50, 30 + dy)) for w, x, dy in
             (("world", 70, 2), ("hello", 10, 0), ("again", 130, -1))]
    assert [w.text for w in reading_order(words)] == ["hello", "world", "again"]


def test_cer_ignores_layout_and_counts_real_errors():
    assert cer("one two\nthree", "one  two three") == 0.0
    assert cer("公共图书馆", "公 共 图 书 馆") == 0.0
    assert cer("abcd", "abxd") == 0.25


def test_unknown_tesseract_language_names_the_package_to_install():
    with pytest.raises(BackendUnavailable, match="tesseract-ocr-klingon"):
        make_backend(OcrConfig(backend="tesseract", languages="eng+klingon")).load()


def test_build_with_an_unavailable_ocr_backend_stops_before_work_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipelines.build", "--ocr", "paddleocr", "--ocr-model-dir",
                           str(tmp_path / "models"), "--out", str(tmp_path / "o")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: PaddleOCR models not found") and len(proc.stderr.strip().splitlines()) == 1


def test_ocr_eval_reports_cer_per_document_and_overall(tmp_path):
    from annotators.ocr.eval import main
    from tests.pdfs import text_pdf

    pdf = text_pdf(tmp_path / "known.pdf", [ENGLISH, "A second page about ferries and rivers."])
    assert main(["--input", str(pdf), "--pages", "1", "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["pages"] == 1 and result["overall_cer"] < 0.05
    assert result["documents"][0]["uri"] == "known.pdf" and result["documents"][0]["pages"] == 1


def test_ocr_eval_renders_only_the_pages_it_scores_spread_over_the_document(tmp_path, monkeypatch):
    """No OCR model runs here: a stand-in stage records what it is given; the PDF source is counted."""
    from types import SimpleNamespace

    from annotators.ocr import eval as ocr_eval
    from sources.pdf import PdfSource
    from tests.pdfs import text_pdf

    reads, expanded = [], []

    class CountingStage(OcrStage):
        def setup(self):
            self.backend = SimpleNamespace(version=lambda: "stand-in")

        def read(self, data, upright=True):
            reads.append(upright)
            return [OcrLine("text", 1.0, rect_box(0, 0, 1, 1))]

    real_expand = PdfSource.expand

    def counting_expand(self, unit):
        expanded.append((unit.params["start"], unit.params["end"]))
        return real_expand(self, unit)

    monkeypatch.setattr(ocr_eval, "OcrStage", CountingStage)
    monkeypatch.setattr(PdfSource, "expand", counting_expand)
    texts = [f"Page {i + 1} of a manual." for i in range(20)]
    texts[7] = ""  # no text layer: the next page is taken instead
    pdf = text_pdf(tmp_path / "manual.pdf", texts)
    result = ocr_eval.evaluate([str(pdf)], pages=4)
    assert expanded == [(2, 3), (8, 9), (12, 13), (17, 18)]  # one page per render, nothing else rendered
    assert [p["page"] for p in result["documents"][0]["page_scores"]] == [3, 9, 13, 18]
    assert reads == [True] * 4  # rendered pages are read as upright
    assert ocr_eval.spread(41, 8)[0] > 0 and ocr_eval.spread(3, 8) == [0, 1, 2]


def test_rapidocr_runs_the_direction_classifier_only_on_images_not_known_upright():
    """RapidOCR's use_cls persists from one call to the next, so every call must say which it wants."""
    from types import SimpleNamespace

    import numpy as np

    from annotators.ocr.rapid import RapidBackend

    calls = []
    backend = RapidBackend(OcrConfig())
    backend._engine = lambda image, **kw: calls.append(kw) or SimpleNamespace(txts=None)
    image = np.zeros((8, 8, 3), np.uint8)
    backend.read(image)
    backend.read(image, upright=False)
    backend.read(image, upright=True)
    assert [c["use_cls"] for c in calls] == [False, True, False]


def test_tesseract_keeps_a_long_line_whose_mean_word_confidence_is_low_and_drops_short_noise():
    """Tesseract read "CRAN.R-project.org/package=DBI)." exactly at confidence 0.03; noise reads as "le"."""
    from types import SimpleNamespace

    import numpy as np

    from annotators.ocr.tesseract import TesseractBackend

    read = [("CRAN.R-project.org/package=DBI).", 3), ("le", 20), (":", 10), ("A well read line.", 95)]
    results = [SimpleNamespace(GetUTF8Text=lambda level, t=t: t, Confidence=lambda level, c=c: c,
                               BoundingBox=lambda level: (0, 0, 10, 10)) for t, c in read]
    backend = TesseractBackend(OcrConfig(backend="tesseract"))
    backend._tesserocr = SimpleNamespace(RIL=SimpleNamespace(TEXTLINE=2), iterate_level=lambda it, level: results)
    backend._api = SimpleNamespace(SetImage=lambda image: None, Recognize=lambda: None, GetIterator=lambda: None)
    lines = backend.read(np.zeros((8, 8, 3), np.uint8))
    assert [line.text for line in lines] == ["CRAN.R-project.org/package=DBI).", "A well read line."]
