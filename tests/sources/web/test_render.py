"""Pages and local documents rendered by the real Chromium (Playwright), without Ray: what a sample holds."""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from pipelines.stage import InputError, Unit
from sources.web.crawl import CrawlConfig
from sources.web.source import WebConfig, WebSource
from tests.sources.web.sites import Reply, Site

CRAWL = CrawlConfig(allow_private=True, delay=0.0, max_depth=0)
PARAS = [f"Paragraph {i} tells how the harbour pilots guided boat number {i} past the sandbar at dawn."
         for i in range(60)]
ARTICLE = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Harbour pilots</title>"
           "<style>body{font-family:'DejaVu Sans';margin:40px} p{font-size:18px}</style>"
           "<script>document.title = 'Harbour pilots';</script></head><body><header><nav>Home</nav></header>"
           "<main><h1>Harbour pilots</h1>" + "".join(f"<p>{p}</p>" for p in PARAS)
           + "<figure><svg width='400' height='240' viewBox='0 0 400 240'><rect x='20' y='100' width='60' "
           "height='140' fill='#2e7bc4'/><rect x='120' y='40' width='60' height='200' fill='#2e7bc4'/>"
           "<line x1='10' y1='240' x2='390' y2='240' stroke='black'/></svg>"
           "<figcaption>Figure 1: Boats guided per year.</figcaption></figure></main></body></html>")


def image_of(row) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("L"), dtype=np.float32)


def samples(site_url: str, **cfg) -> list[dict]:
    src = WebSource(WebConfig(seeds=(site_url,), crawl=CRAWL, **cfg))
    units = src.plan([])
    return [row for unit in units for row in src.expand(unit)]


def test_a_page_becomes_screenshot_tiles_text_and_chart_with_true_text_and_boxes():
    with Site({"/": Reply(ARTICLE)}) as site:
        rows = samples(site.url + "/")
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "screenshot" and "tile" in kinds and "text" in kinds
    shot = rows[0]
    meta = json.loads(shot["meta"])
    assert meta["title"] == "Harbour pilots" and meta["url"] == site.url + "/" and not meta["dom_truncated"]
    assert PARAS[0] in shot["text"] and PARAS[59] not in shot["text"]
    assert PARAS[0] in shot["html"] and "<script" not in shot["html"]
    for row in (r for r in rows if r["kind"] in ("screenshot", "tile")):
        pixels = image_of(row)
        assert pixels.shape == (row["height"], row["width"]) and row["width"] == 1024
        assert pixels.std() > 10  # real rendered text, not a blank capture
        boxes = json.loads(row["meta"])["boxes"]
        assert boxes and row["text"] == "\n".join(b["text"] for b in boxes)
        for b in boxes:
            x0, y0, x1, y1 = b["box"]
            assert 0 <= x0 < x1 <= row["width"] and 0 <= y0 < y1 <= row["height"]
            if b["tag"] == "p":  # ink inside every paragraph's box
                assert pixels[int(y0):int(y1), int(x0):int(x1)].min() < 100
    tiles_text = "\n".join(r["text"] for r in rows if r["kind"] in ("screenshot", "tile"))
    assert all(p in tiles_text for p in PARAS[:40])  # 4 tiles of 1024 px hold the first part of the page
    text = next(r for r in rows if r["kind"] == "text")["text"]
    assert text.startswith("Harbour pilots") and PARAS[59] in text and "Home" not in text  # main text only
    chart = next(r for r in rows if r["kind"] in ("chart", "figure"))  # the class is the pixel classifier's call
    assert chart["text"] == "Figure 1: Boats guided per year." and chart["code"].startswith("<svg")
    assert (chart["width"], chart["height"]) == (400, 240) and image_of(chart).std() > 10


def test_a_huge_dom_is_cut_at_max_blocks_and_still_rendered_quickly():
    body = "".join(f"<div>item {i}</div>" for i in range(30_000))
    with Site({"/": Reply(f"<html><head><title>Huge</title></head><body>{body}</body></html>")}) as site:
        started = time.monotonic()
        rows = samples(site.url + "/", max_blocks=2000, figures=False)
        assert time.monotonic() - started < 30
    shot = rows[0]
    meta = json.loads(shot["meta"])
    assert meta["dom_truncated"] and meta["dom_elements"] > 30_000
    assert shot["text"].startswith("item 0\nitem 1") and image_of(shot).std() > 10


def test_a_page_the_browser_cannot_load_raises_a_typed_error():
    with Site({"/": Reply("<html><body><p>gone by now</p></body></html>")}) as site:
        src = WebSource(WebConfig(seeds=(site.url + "/",), crawl=CRAWL))
        units = src.plan([])
    unit = Unit(units[0].id, units[0].uri, 1, {**units[0].params, "html": None})  # nothing served, server gone
    with pytest.raises(InputError, match="ERR_CONNECTION_REFUSED") as caught:  # the runner makes it an error row
        list(src.expand(unit))
    assert caught.value.error_type == "PageLoadFailed"


def epub(path, chapters: list[str]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:'
                   'xmlns:container"><rootfiles><rootfile full-path="OEBPS/book.opf"/></rootfiles></container>')
        items = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
                        for i in range(len(chapters)))
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
        z.writestr("OEBPS/book.opf", f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf">'
                   f"<manifest>{items}</manifest><spine>{spine}</spine></package>")
        for i, text in enumerate(chapters):
            z.writestr(f"OEBPS/c{i}.xhtml", f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter {i}'
                       f"</title></head><body><h1>Chapter {i}</h1>{text}</body></html>")


def test_local_html_and_epub_become_template_pages_with_their_text(tmp_path):
    long = "".join(f"<p>{p}</p>" for p in PARAS)
    (tmp_path / "essay.html").write_text(f"<html><head><title>Essay</title></head><body>{long}</body></html>")
    epub(tmp_path / "book.epub", ["<p>The first chapter is short.</p>", "<p>第二章讲述港口的历史。</p>"])
    (tmp_path / "broken.epub").write_bytes(b"not a zip")
    src = WebSource(WebConfig(templates=("compact",)))
    units = src.plan([str(tmp_path)])
    assert sorted(u.locator for u in units) == ["chapter=0", "chapter=0", "chapter=1", "error=BadEpub"]
    rows = [r for u in units for r in src.expand(u)]
    errors = [r for r in rows if r.get("_error")]
    assert len(errors) == 1 and "broken.epub" in json.loads(errors[0]["_error"])["message"]
    pages = [r for r in rows if not r.get("_error")]
    assert sorted(r["kind"] for r in pages if r["kind"] == "document") == ["document"] * 3  # one per chapter
    pages = [r for r in pages if r["kind"] != "document"]
    assert {r["kind"] for r in pages} == {"page"} and {(r["width"], r["height"]) for r in pages} == {(640, 960)}
    essay = [r for r in pages if r["uri"].endswith("essay.html")]
    assert len(essay) >= 3  # 60 paragraphs do not fit on one 960 px page
    assert "\n".join(r["text"] for r in essay).split("\n") == PARAS  # every line once, none cut between pages
    book = "\n".join(r["text"] for r in pages if r["uri"].endswith("book.epub"))
    assert "The first chapter is short." in book and "第二章讲述港口的历史。" in book
    for r in pages:
        assert image_of(r).std() > 5 and json.loads(r["meta"])["template"] == "compact"
        for b in json.loads(r["meta"])["boxes"]:
            assert 0 <= b["box"][0] < b["box"][2] <= 640 and 0 <= b["box"][1] < b["box"][3] <= 960
