"""The report of a real demo run, opened in headless Chromium (Debian's, found as the web source finds it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.report import build_report, main
from sources.web.browser import LAUNCH_ARGS, find_browser
from tests.conftest import REPO

ARTIFACTS = Path(os.environ.get("VLFORGE_ARTIFACTS", REPO / ".artifacts"))


@pytest.mark.slow
def test_the_report_loads_cleanly_and_shows_the_numbers_of_stats_json(demo_output):
    from playwright.sync_api import sync_playwright

    path = demo_output / "report.html"
    assert path.is_file(), "the build writes report.html at the end"
    path = build_report(demo_output)  # and the report command rebuilds it
    stats = json.loads((demo_output / "stats.json").read_text())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: problems.append(f"network: {r.url}") if not r.url.startswith(("file:", "data:"))
                else None)
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        assert problems == []
        images = page.evaluate("[...document.images].map(i => i.naturalWidth)")
        assert len(images) >= 10 and all(w > 0 for w in images)
        shown = page.evaluate("Object.fromEntries([...document.querySelectorAll('[data-stat]')]"
                              ".map(e => [e.dataset.stat, Number(e.textContent)]))")
        for key in ("inputs", "items", "kept", "dropped", "errors", "shards"):
            assert shown[key] == stats[key], key
        assert shown["duplicates"] == stats["dedup"]["duplicates"]
        text = page.inner_text("body")
        for heading in ("Funnel", "Counts", "Distributions", "Samples by kind", "Samples by use-case tag",
                        "OCR lines on a few pages", "Rejected samples", "Errors"):
            assert heading in text
        assert "recognition.ocr_transcription" in text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_report_of_a_folder_without_a_run_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no finished run" in capsys.readouterr().err


def _png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_a_document_reads_with_its_images_inline_in_order_and_captions_name_their_source(tmp_path):
    """The report shows an interleaved document as it reads (each image where its marker stands, with
    its caption), and an image-caption sample with where its caption came from."""
    import base64
    import io
    import re

    import pyarrow.parquet as pq
    from PIL import Image

    from pipelines.documents import DocumentBuilder
    from pipelines.schema import DOCUMENT_KIND, image_value, sample_schema, to_table

    colours = [(220, 30, 30), (30, 160, 40), (30, 60, 220)]
    doc = DocumentBuilder()
    doc.text("Rivers of the north", heading=True)
    for i, (colour, size) in enumerate(zip(colours, [(300, 200), (120, 260), (640, 90)], strict=True)):
        doc.text(f"Paragraph before image {i + 1}.")
        doc.image(_png(colour, size), {"url": f"https://example.org/{i}.png", "caption": f"Figure {i + 1}: map {i + 1}",
                                       "caption_source": "figcaption", "width": size[0], "height": size[1]})
    doc.text("The closing paragraph.")
    fields = doc.fields()
    document = {"id": "d1", "source": "web", "kind": DOCUMENT_KIND, "uri": "https://example.org/rivers",
                "locator": "", "lang": "en", "keep": True, "text": fields["text"], "images": fields["images"],
                "meta": json.dumps({**fields["meta"], "title": "Rivers of the north"})}
    figure = {"id": "f1", "source": "web", "kind": "figure", "uri": "https://example.org/rivers", "locator": "img=0",
              "lang": "en", "keep": True, "image": image_value(_png(colours[0], (300, 200))), "width": 300,
              "height": 200, "text": "Figure 1: map 1", "meta": json.dumps({"caption_source": "figcaption"})}
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    pq.write_table(to_table([document, figure], sample_schema()), out / "shards" / "part-00000.parquet")
    (out / "stats.json").write_text(json.dumps({"inputs": 1, "kept": 2, "shards": 1}))

    page = build_report(out).read_text()
    section = page.split("<h2>Documents as they read</h2>")[1].split("</section>")[0]
    # In reading order: heading paragraph, then (paragraph, image, its caption) three times, then the end.
    pieces = re.findall(r"<p>(.*?)</p>|<img[^>]*src=\"data:image/jpeg;base64,([^\"]+)\"[^>]*><figcaption>(.*?)<div",
                        section)
    order = [p if p else ("image", cap) for p, data, cap in pieces]
    assert order == ["Rivers of the north",
                     "Paragraph before image 1.", ("image", "Figure 1: map 1"),
                     "Paragraph before image 2.", ("image", "Figure 2: map 2"),
                     "Paragraph before image 3.", ("image", "Figure 3: map 3"),
                     "The closing paragraph."]
    shown = [Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB") for _, data, _ in pieces if data]
    for im, colour in zip(shown, colours, strict=True):  # the document's own images, in its order
        assert all(abs(a - b) < 12 for a, b in zip(im.getpixel((im.width // 2, im.height // 2)), colour, strict=True))
    assert "caption from figcaption" in section and "640×90 px" in section
    kinds = page.split("<h2>Samples by kind</h2>")[1].split("</section>")[0]
    assert "<b>figure</b>" in kinds and "caption from figcaption" in kinds
    assert "<b>document</b> · 3 images" in kinds
