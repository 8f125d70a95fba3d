"""Interleaved documents from the real Chromium (no Ray): pages with known image files become one
`document` row each whose images are exactly those files, in place, with their captions after them,
and whose every bad image is a drop reason; captioned images become figure/chart samples."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from pipelines.documents import IMAGE_MARKER, check, marker_count, paragraphs
from sources.web.crawl import CrawlConfig
from sources.web.source import WebConfig, WebSource
from tests.sources.web import docsite
from tests.sources.web.docsite import FILES, SWATCH, sha
from tests.sources.web.sites import Reply, Site

CRAWL = CrawlConfig(allow_private=True, delay=0.0, max_depth=0)


def build(seed: str, **cfg) -> list[dict]:
    src = WebSource(WebConfig(seeds=(seed,), crawl=CRAWL, **cfg))
    return [row for unit in src.plan([]) for row in src.expand(unit)]


def after(text: str, index: int) -> str:
    """The paragraph right after the `index`-th image marker."""
    paras = paragraphs(text)
    marks = [i for i, p in enumerate(paras) if p == IMAGE_MARKER]
    return paras[marks[index] + 1] if marks[index] + 1 < len(paras) else ""


@pytest.fixture(scope="module")
def article() -> tuple[str, list[dict]]:
    with Site(docsite.routes()) as site:
        rows = build(site.url + "/article", max_image_bytes=300_000, max_image_megapixels=1.0)
        return site.url, rows


def test_a_page_becomes_one_document_with_its_real_images_in_place(article):
    base, rows = article
    docs = [r for r in rows if r["kind"] == "document"]
    assert len(docs) == 1
    doc = docs[0]
    meta = json.loads(doc["meta"])
    check(doc["text"], doc["images"], meta["images"])  # markers == images == records
    infos = meta["images"]
    by_url = {i["url"].removeprefix(base): i for i in infos if i["url"]}
    # The exact files the page loaded (and the lazy one it never loaded), byte for byte.
    for path in ("/img/chart.png", "/img/photo.jpg", "/img/map.png", "/img/icon.png", "/img/logo.png",
                 "/img/lazy.png"):
        k = infos.index(by_url[path])
        assert doc["images"][k]["bytes"] == FILES[path][0], path
        assert infos[k]["sha256"] == sha(FILES[path][0])
    assert by_url["/img/lazy.png"]["lazy"] and by_url["/img/photo.jpg"]["format"] == "jpeg"
    assert (by_url["/img/photo.jpg"]["width"], by_url["/img/photo.jpg"]["height"]) == (400, 300)
    # Small images are the filters' business: the source keeps the icon and the logo, with their size.
    assert by_url["/img/icon.png"]["width"] == 16 and by_url["/img/logo.png"]["alt"] == "logo"
    # The data: URI is decoded; SVG (a file and inline) is rasterised by Chromium.
    swatch = next(i for i in infos if i["url"].startswith("data:image/png"))
    assert doc["images"][infos.index(swatch)]["bytes"] == SWATCH
    svg = by_url["/img/diagram.svg"]
    assert svg["source_format"] == "svg" and svg["format"] == "png" and svg["width"] >= 240
    assert Image.open(io.BytesIO(doc["images"][infos.index(svg)]["bytes"])).size == (svg["width"], svg["height"])
    inline = [i for i in infos if i["origin"] == "svg"]
    assert len(inline) == 1 and inline[0]["caption_source"] == "figcaption"
    # The header's logo is page chrome, the CSS background is no image, the footer is not text.
    assert sum(1 for i in infos if i["url"] and i["url"].endswith("/img/logo.png")) == 1
    assert not any("bg.png" in (i.get("url") or "") for i in infos + meta["dropped_images"])
    assert "footer" not in doc["text"]
    # Reading order: heading first, text, lists, table rows, code.
    paras = paragraphs(doc["text"])
    assert paras[0] == "Rainfall on the cape" and paras[1].startswith("Rain gauges")
    assert meta["headings"] == ["Rainfall on the cape", "Readings"]
    for line in ("Morning reading at seven", "Month | mm", "January | 80", "total = sum(readings)"):
        assert line in paras
    assert paras.index("Month | mm") < paras.index("total = sum(readings)")
    assert meta["title"] == "Rainfall on the cape" and meta["html_lang"] == "en" and meta["url"] == base + "/article"


def test_captions_follow_their_image_and_bad_images_are_drop_reasons(article):
    base, rows = article
    doc = next(r for r in rows if r["kind"] == "document")
    meta = json.loads(doc["meta"])
    infos = meta["images"]
    want = {"/img/chart.png": ("Figure 1: Rainfall per month at the cape.", "figcaption"),
            "/img/photo.jpg": ("A lighthouse at dusk on the northern cape", "alt"),
            "/img/map.png": ("图 2：灯塔的位置", "title"),  # a "图 N" title element above the image
            "/img/lazy.png": ("The harbour seen from the tower", "alt"),
            "/img/diagram.svg": ("Diagram of the tide cycle", "alt")}
    for k, info in enumerate(infos):
        path = (info["url"] or "").removeprefix(base)
        if path in want:
            assert (info["caption"], info["caption_source"]) == want[path]
            assert after(doc["text"], k) == want[path][0]  # the caption is the paragraph right after it
    # A file name and boilerplate alt text are no caption; the caption above its image moved below it.
    assert not by(infos, base, "/img/icon.png")["caption"] and not by(infos, base, "/img/logo.png")["caption"]
    assert doc["text"].count("图 2：灯塔的位置") == 1 and doc["text"].count("Figure 1: Rainfall") == 1
    dropped = {(d.get("url") or "").removeprefix(base): d["reason"] for d in meta["dropped_images"]}
    assert dropped == {"/img/missing.png": "http_404", "/img/big.png": "too_large",
                       "/img/huge.png": "too_many_pixels", "/img/bomb.svg": "svg_bomb",
                       "/img/bad.png": "undecodable", "/private/secret.png": "robots_disallowed",
                       "": "too_small"}  # the 16 px inline SVG icon, not rasterised
    assert all(d["detail"] for d in meta["dropped_images"])


def by(infos: list[dict], base: str, path: str) -> dict:
    return next(i for i in infos if (i["url"] or "").removeprefix(base) == path)


def test_every_captioned_image_is_also_a_figure_sample_with_its_own_bytes(article):
    base, rows = article
    figs = [r for r in rows if r["kind"] in ("figure", "chart")]
    by_caption = {}
    for r in figs:
        assert r["text"] not in by_caption, f"{r['text']!r} emitted twice"
        by_caption[r["text"]] = r
    assert set(by_caption) == {"Figure 1: Rainfall per month at the cape.", "A lighthouse at dusk on the northern cape",
                               "图 2：灯塔的位置", "The harbour seen from the tower", "Diagram of the tide cycle",
                               "A swatch of sea blue", "Figure 3: Boats guided per year."}
    for caption, path, source in (("Figure 1: Rainfall per month at the cape.", "/img/chart.png", "figcaption"),
                                  ("A lighthouse at dusk on the northern cape", "/img/photo.jpg", "alt"),
                                  ("图 2：灯塔的位置", "/img/map.png", "title")):
        row = by_caption[caption]
        meta = json.loads(row["meta"])
        assert row["image"]["bytes"] == FILES[path][0] and meta["caption_source"] == source
        assert meta["image_url"] == base + path and row["width"] == Image.open(io.BytesIO(FILES[path][0])).width
    assert by_caption["Figure 1: Rainfall per month at the cape."]["kind"] == "chart"  # bars: classified
    inline = json.loads(by_caption["Figure 3: Boats guided per year."]["meta"])  # the SVG figure, once
    assert inline["origin"] == "svg" and inline["caption_source"] == "figcaption"
    assert {"screenshot", "text"} <= {r["kind"] for r in rows}  # the page's other samples are still there


def test_a_page_with_500_images_keeps_the_first_ones_and_records_the_rest():
    with Site({"/many": Reply(docsite.many_page(500))}, fallback=docsite.numbered) as site:
        rows = build(site.url + "/many", max_document_images=20, figures=False)
    doc = next(r for r in rows if r["kind"] == "document")
    meta = json.loads(doc["meta"])
    assert marker_count(doc["text"]) == len(doc["images"]) == 20
    assert [i["url"].rsplit("/", 1)[1] for i in meta["images"]] == [f"{i}.png" for i in range(20)]
    assert len(meta["dropped_images"]) == 480 and {d["reason"] for d in meta["dropped_images"]} == {"too_many_images"}
    assert after(doc["text"], 19) == "Buoy number 19 in the bay" and "Image 499" in doc["text"]
    assert not any(r["kind"] in ("figure", "chart") for r in rows)  # figures = false


def test_an_inline_svg_bomb_is_an_error_not_a_hung_browser():
    bomb = docsite.use_bomb().decode()
    with Site({"/b": Reply(f"<html><body><p>Boom</p>{bomb}</body></html>"),
               "/ok": Reply("<html><body><main><p>Still fine after the bomb.</p></main></body></html>")}) as site:
        src = WebSource(WebConfig(seeds=(site.url + "/b",), crawl=CRAWL))
        unit = src.plan([])[0]
        with pytest.raises(Exception, match="SVG"):
            src.expand(unit)
        rows = build(site.url + "/ok")
    assert any(r["kind"] == "document" and "Still fine" in r["text"] for r in rows)


def epub_with_images(path, missing: bool) -> dict[str, bytes]:
    """An EPUB whose one chapter shows two images; its manifest lists both, the zip holds only the first
    when `missing`."""
    fig, gone = docsite.png(300, 200, 21), docsite.png(300, 200, 22)
    chapter = ("<?xml version='1.0' encoding='utf-8'?><html xmlns='http://www.w3.org/1999/xhtml'><head>"
               "<title>Tides</title></head><body><h1>Tides</h1><p>The tide turns twice a day at the harbour.</p>"
               "<figure><img src='images/fig1.png' alt='fig1.png'/><figcaption>Figure 1: High and low water."
               "</figcaption></figure><p>Between them the pilots wait.</p>"
               "<img src='images/gone.png' alt='A chart of the spring tides'/><p>The end.</p></body></html>")
    opf = ("<?xml version='1.0'?><package xmlns='http://www.idpf.org/2007/opf' version='3.0'><manifest>"
           "<item id='c1' href='c1.xhtml' media-type='application/xhtml+xml'/>"
           "<item id='f1' href='images/fig1.png' media-type='image/png'/>"
           "<item id='f2' href='images/gone.png' media-type='image/png'/></manifest>"
           "<spine><itemref idref='c1'/></spine></package>")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", "<?xml version='1.0'?><container xmlns='urn:oasis:names:tc:"
                   "opendocument:xmlns:container' version='1.0'><rootfiles><rootfile full-path='OEBPS/content.opf' "
                   "media-type='application/oebps-package+xml'/></rootfiles></container>")
        z.writestr("OEBPS/content.opf", opf)
        z.writestr("OEBPS/c1.xhtml", chapter)
        z.writestr("OEBPS/images/fig1.png", fig)
        if not missing:
            z.writestr("OEBPS/images/gone.png", gone)
    return {"fig1": fig, "gone": gone}


def test_an_epub_chapter_is_a_document_and_a_missing_manifest_image_a_drop_reason(tmp_path):
    files = epub_with_images(tmp_path / "tides.epub", missing=True)
    src = WebSource(WebConfig())
    rows = [r for u in src.plan([str(tmp_path / "tides.epub")]) for r in src.expand(u)]
    doc = next(r for r in rows if r["kind"] == "document")
    meta = json.loads(doc["meta"])
    assert doc["locator"] == "chapter=0/document" and meta["title"] == "Tides" and meta["headings"] == ["Tides"]
    assert [i["bytes"] for i in doc["images"]] == [files["fig1"]]
    assert after(doc["text"], 0) == "Figure 1: High and low water." and "The end." in doc["text"]
    assert [(d["reason"], d["url"].rsplit("/", 1)[1]) for d in meta["dropped_images"]] == [("missing_file", "gone.png")]
    assert "A chart of the spring tides" not in doc["text"]  # a dropped image leaves no alt caption
    fig = next(r for r in rows if r["kind"] in ("figure", "chart"))
    assert fig["image"]["bytes"] == files["fig1"] and json.loads(fig["meta"])["caption_source"] == "figcaption"
    assert any(r["kind"] == "page" for r in rows)  # the book pages are still made


def test_documents_off_leaves_the_page_samples_as_they_were(article):
    base, rows = article
    with Site(docsite.routes()) as site:
        plain = build(site.url + "/article", documents=False, max_image_megapixels=1.0)
    kinds = sorted(r["kind"] for r in plain)
    assert "document" not in kinds and kinds.count("figure") + kinds.count("chart") == 1  # only the SVG figure
    shots = [r for r in plain if r["kind"] == "screenshot"]
    assert shots and shots[0]["text"] == next(r for r in rows if r["kind"] == "screenshot")["text"]


def test_images_are_fetched_by_the_crawler_politely_and_under_its_user_agent():
    imgs = "".join(f"<img src='/img/n/{i}.png' alt='Buoy {i} off the northern cape'>" for i in range(3))
    html = f"<html><head><title>Buoys</title></head><body><main><p>Three buoys.</p>{imgs}</main></body></html>"
    with Site({"/buoys": Reply(html)}, fallback=docsite.numbered) as site:
        src = WebSource(WebConfig(seeds=(site.url + "/buoys",), crawl=CrawlConfig(allow_private=True, delay=0.4,
                                                                                  max_depth=0)))
        rows = [r for u in src.plan([]) for r in src.expand(u)]
        log = [(t, p, ua) for t, p, ua in site.log if p.startswith("/img/")]
    doc = next(r for r in rows if r["kind"] == "document")
    assert [im["bytes"] for im in doc["images"]] == [docsite.numbered(f"/img/n/{i}.png").body for i in range(3)]
    assert len(log) == 3 and all(ua.startswith("vlforge-crawler/") for _, _, ua in log)  # each fetched once
    assert log[-1][0] - log[0][0] >= 0.6  # `delay` (0.4 s) apart, like the crawler's (server-side times jitter)


def test_a_document_that_cannot_be_read_is_an_error_row_and_the_page_keeps_its_samples(monkeypatch):
    import sources.web.source as source

    def broken(*_a, **_k):
        raise RuntimeError("walk exploded")

    monkeypatch.setattr(source, "build_document", broken)
    with Site({"/p": Reply(f"<html><body><main><p>{docsite.TEXT * 3}</p></main></body></html>")}) as site:
        rows = build(site.url + "/p")
    errors = [r for r in rows if r.get("_error")]
    assert len(errors) == 1 and json.loads(errors[0]["_error"])["error_type"] == "DocumentFailed"
    assert "walk exploded" in json.loads(errors[0]["_error"])["message"]
    assert {"screenshot", "text"} <= {r["kind"] for r in rows if not r.get("_error")}


def test_screenshots_off_gives_documents_without_page_images():
    with Site(docsite.routes()) as site:
        rows = build(site.url + "/article", screenshots=False, html_samples=False)
    kinds = {r["kind"] for r in rows}
    assert "document" in kinds and "text" in kinds and not kinds & {"screenshot", "tile"}


def test_a_figure_of_two_images_is_captioned_once_after_the_last():
    """DocBook's layout (the Debian handbook): a figure of two screenshots in wrappers, its "Figure N."
    title after them. Both images carry the title as their caption; it follows the second image, and the
    alt text is not put between them."""
    from tests.sources.web.docsite import png

    a, b = png(320, 200, 1), png(320, 200, 2)
    html = ("<!doctype html><html lang=en><head><title>Install</title></head><body><div class='book'>"
            "<p>The installer first asks for the language to use for the rest of the process.</p>"
            "<div class='figure'><div class='figure-contents'>"
            "<div class='mediaobject'><img src='/a.png' alt='Selecting the language'></div>"
            "<div class='mediaobject'><img src='/b.png' alt='Selecting the language'></div></div>"
            "<p class='title'><strong>Figure 4.2. Selecting the language</strong></p></div>"
            "<p>The second step asks for the country.</p></div></body></html>")
    routes = {"/install": Reply(html), "/a.png": Reply(a, ctype="image/png"), "/b.png": Reply(b, ctype="image/png")}
    with Site(routes) as site:
        doc = next(r for r in build(site.url + "/install") if r["kind"] == "document")
    paras = paragraphs(doc["text"])
    k = paras.index(IMAGE_MARKER)
    assert paras[k:k + 3] == [IMAGE_MARKER, IMAGE_MARKER, "Figure 4.2. Selecting the language"]
    infos = json.loads(doc["meta"])["images"]
    assert [i["caption_source"] for i in infos] == ["title", "title"]
    assert all(i["caption"] == "Figure 4.2. Selecting the language" for i in infos)


def test_a_sidebar_of_prose_is_content_and_a_sidebar_of_links_is_chrome():
    """Without main/article the body is read minus its chrome; a class name alone (`.sidebar`) is chrome
    only when most of its text is links: DocBook's sidebar boxes hold prose and figures."""
    from tests.sources.web.docsite import png

    html = ("<!doctype html><html lang=en><head><title>Internals</title></head><body>"
            "<div class='sidebar'><a href='/a'>Home</a> <a href='/b'>Chapters</a> <a href='/c'>Index</a></div>"
            "<p>Debian keeps a database of its developers and where they live.</p>"
            "<div class='sidebar'><p class='title'>BACK TO BASICS Package maintenance</p>"
            "<p>Maintaining a package entails, first, packaging a piece of software.</p>"
            "<div class='figure'><div class='mediaobject'><img src='/map.png' alt='World map'></div>"
            "<p class='title'>Figure 1.1. World-wide distribution of Debian developers</p></div></div>"
            "</body></html>")
    routes = {"/internals": Reply(html), "/map.png": Reply(png(400, 220, 3), ctype="image/png")}
    with Site(routes) as site:
        doc = next(r for r in build(site.url + "/internals") if r["kind"] == "document")
    paras = paragraphs(doc["text"])
    assert "Maintaining a package entails, first, packaging a piece of software." in paras
    assert after(doc["text"], 0) == "Figure 1.1. World-wide distribution of Debian developers"
    assert not any("Chapters" in p for p in paras)
