"""OCR inside a real Ray Data run, as an actor pool (policy all: every page is read)."""

import pytest

from pipelines.shards import read_shards
from tests.pdfs import text_pdf
from tests.pipelines.test_runner import build

pytestmark = pytest.mark.usefixtures("ray_session")


def test_every_page_gets_ocr_lines_and_text_samples_do_not(tmp_path):
    pdf = text_pdf(tmp_path / "doc.pdf", ["Harbour water rose in July.\nPumps ran all night.",
                                          "Harbour water fell in August.\nPumps ran all night."])
    result = build([pdf], tmp_path / "out", ocr="rapidocr", ocr_policy="all")
    rows = read_shards(tmp_path / "out").to_pylist()
    pages = [r for r in rows if r["kind"] == "page"]
    assert len(pages) == 2 and result.stats["errors"] == 0
    for page in pages:
        assert "Pumps ran all night" in page["ocr_text"] and page["ocr"][0]["score"] > 0.5
        assert page["quality"]["ocr_conf"] > 0.8 and page["quality"]["ocr_cer"] < 0.05
    assert all(r["ocr"] is None for r in rows if r["kind"] == "text")
