"""A screenshot's OCR lines from the DOM (dom.js line fragments, `layout.cut`, `dom_lines.check_lines`),
checked against the rendered pixels, and the OCR stage passing them through under policy auto."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from annotators.ocr.backend import OcrConfig
from annotators.ocr.cer import cer
from annotators.ocr.stage import OcrStage
from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.schema import to_table
from pipelines.shards import read_shards
from sources.web.crawl import CrawlConfig
from sources.web.dom_lines import text_ink_share
from sources.web.source import WebConfig, WebSource
from tests.sources.web.sites import Reply, Site

CRAWL = CrawlConfig(allow_private=True, delay=0.0, max_depth=0)
LEFT = [f"Left column paragraph {i}: the keeper of the north light wrote down the wind, the tide and every ship "
        f"that passed the point before the fog came in." for i in range(3)]
RIGHT = [f"Right column paragraph {i}: supplies came by boat each <a href='#'>second Tuesday</a> of the month, "
         f"weather permitting, with oil and letters." for i in range(3)]
ZH = "灯塔看守人每天记录风向、潮汐和经过海角的每一艘船。雾来之前，他会点亮灯塔，并在日志里写下时间和天气。" * 2
LONG = [f"Log entry {i}. The lamp was lit at dusk and trimmed at midnight; visibility was {i % 9 + 1} miles and "
        f"the barometer read {990 + i} hectopascals, falling slowly." for i in range(40)]
PAGE = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Keeper's log</title>"
        "<style>body{font-family:'DejaVu Sans';margin:32px;font-size:17px} h1{font-size:34px}"
        ".cols{display:flex;gap:48px} .cols>div{flex:1} .zh{font-family:'Noto Sans CJK SC'}</style></head><body>"
        "<main><h1>The keeper's log</h1><div class='cols'><div>" + "".join(f"<p>{p}</p>" for p in LEFT)
        + "</div><div>" + "".join(f"<p>{p}</p>" for p in RIGHT) + "</div></div>"
        "<h2 style='text-transform:uppercase'>Weather notes</h2>"
        f"<p class='zh' lang='zh'>{ZH}</p>" + "".join(f"<p>{p}</p>" for p in LONG)
        + "<p><textarea placeholder='Write to the keeper'></textarea> <textarea>Dear keeper</textarea></p>"
        "</main></body></html>")


def text_png(text: str, size: tuple[int, int]) -> bytes:
    """An image of text (black on white), as a site would show a scanned notice."""
    im = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 26)
    for i, line in enumerate(text.split("\n")):
        draw.text((20, 20 + 40 * i), line, fill="black", font=font)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


NOTICE = text_png("\n".join(f"Notice {i}: the north light is closed for repairs until spring." for i in range(10)),
                  (900, 440))


def samples(url: str, **cfg) -> list[dict]:
    src = WebSource(WebConfig(seeds=(url,), crawl=CRAWL, figures=False, documents=False, **cfg))
    return [row for unit in src.plan([]) for row in src.expand(unit)]


def gray(row) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("L"))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_dom_lines_read_the_tiles_text_and_their_boxes_hold_its_ink():
    with Site({"/": Reply(PAGE)}) as site:
        rows = [r for r in samples(site.url + "/", max_tiles=6) if r["kind"] in ("screenshot", "tile")]
    assert len(rows) >= 2  # the page is long: a screenshot and tiles
    all_lines, all_text = [], []
    for row in rows:
        meta = json.loads(row["meta"])
        assert meta["ocr_source"] == "dom" and "ocr_needed" not in meta, meta.get("dom_check")
        assert meta["dom_check"]["text_ink"] > 0.9
        lines = row["ocr"]
        assert lines and all(line["score"] == 1.0 for line in lines)
        assert row["ocr_text"] == "\n".join(line["text"] for line in lines)
        pixels = gray(row)
        h, w = pixels.shape
        mask = np.zeros_like(pixels, dtype=bool)
        for line in lines:
            x0, y0, x1, y0b, x1b, y1, x0b, y1b = line["box"]
            assert (x0, x1, y0, y1) == (x0b, x1b, y0b, y1b)  # an upright rectangle
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h  # inside the tile
            assert line["text"].strip() == line["text"] and line["text"]
            inside = pixels[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))]
            if y1 - y0 > 8:  # a line cut by the tile's edge may show only a sliver
                assert (inside < 128).sum() >= len(squeeze(line["text"])), line  # ink for every character
                assert (y1 - y0) < 60  # one line, not a paragraph
            mask[max(0, int(y0) - 2):int(np.ceil(y1)) + 2, max(0, int(x0) - 2):int(np.ceil(x1)) + 2] = True
        dark = pixels < 128
        dark[:20], dark[-20:] = False, False  # a line cut by the tile's edge belongs to the tile holding its middle
        assert (dark & ~mask).sum() <= 0.001 * dark.sum()  # every line's ink lies in its box
        all_lines.append("".join(line["text"] for line in lines))
        all_text.append(row["text"])
    # The lines read the same text as the tiles' DOM text, in the same order (whitespace aside: a
    # line break inside Chinese text has no space; a line reads text as CSS draws it, upper case here).
    assert squeeze("".join(all_lines)).lower() == squeeze("".join(all_text)).lower()
    texts = [line["text"] for row in rows for line in row["ocr"]]
    assert "WEATHER NOTES" in texts and "Write to the keeper" in texts and texts.count("Dear keeper") == 1
    shot = rows[0]["ocr"]
    texts = [line["text"] for line in shot]
    assert texts[0] == "The keeper's log"
    # Two columns: every line of the left column before the right's, each in its half.
    left = [i for i, t in enumerate(texts) if any(t in p for p in LEFT)]
    right = [i for i, t in enumerate(texts) if any(t in re.sub("<[^>]+>", "", p) for p in RIGHT)]
    assert len(left) >= 6 and len(right) >= 6 and max(left) < min(right)
    assert all(shot[i]["box"][2] < 512 for i in left) and all(shot[i]["box"][0] > 512 for i in right)
    # An inline link stays on its visual line; the paragraph's lines join back into it.
    assert squeeze(" ".join(texts[i] for i in right[:3])).startswith(squeeze(re.sub("<[^>]+>", "", RIGHT[0])))
    zh = [line for row in rows for line in row["ocr"] if "灯塔" in line["text"] or "。" in line["text"]]
    assert len(zh) >= 2 and squeeze("".join(line["text"] for line in zh)) == ZH


def test_an_image_of_text_or_text_in_a_css_background_goes_to_ocr():
    bg = ("<!doctype html><html><head><meta charset='utf-8'><title>Notice</title><style>body{margin:20px;"
          "font-family:'DejaVu Sans'}.notice{width:900px;height:440px;background:url(/notice.png)}</style></head>"
          "<body><p>Notices of the north light.</p><div class='notice'></div></body></html>")
    only = "<!doctype html><html><head><title>Notice</title></head><body><img src='/notice.png'></body></html>"
    routes = {"/bg": Reply(bg), "/img": Reply(only), "/notice.png": Reply(NOTICE, ctype="image/png")}
    with Site(routes) as site:
        shot_bg = samples(site.url + "/bg")[0]
        shot_img = samples(site.url + "/img")[0]
    meta = json.loads(shot_bg["meta"])
    assert meta["ocr_needed"] == "low_text_ink" and meta["dom_check"]["text_ink"] < 0.2
    assert shot_bg.get("ocr") is None and shot_bg.get("ocr_text") is None and "ocr_source" not in meta
    meta = json.loads(shot_img["meta"])
    assert meta["ocr_needed"] == "no_dom_text" and shot_img.get("ocr") is None


def test_text_ink_share_ignores_images_and_counts_edges_on_any_background():
    dark = np.full((100, 200), 20, dtype=np.uint8)
    dark[40:50, 10:90] = 230  # light "text" on a dark page
    dark[10:90, 120:190] = np.arange(70, dtype=np.uint8)[None, :] * 3  # a photo
    assert text_ink_share(dark, [(10, 40, 90, 50)], [(120, 10, 190, 90)]) == pytest.approx(1.0)
    assert text_ink_share(dark, [], [(120, 10, 190, 90)]) == 0.0
    assert text_ink_share(np.full((100, 200), 255, dtype=np.uint8), [], []) is None  # blank: nothing to judge


@pytest.mark.usefixtures("ray_session")
def test_under_policy_auto_screenshots_keep_their_dom_lines_and_only_an_image_page_is_ocred(tmp_path):
    only = ("<!doctype html><html><head><title>Notice</title></head><body style='margin:0'>"
            "<img src='/notice.png' width='400' height='196'></body></html>")
    routes = {"/": Reply(PAGE.replace("</main>", "<a href='/img'>notice</a></main>")), "/img": Reply(only),
              "/notice.png": Reply(NOTICE, ctype="image/png")}
    with Site(routes) as site:
        crawl = CrawlConfig(allow_private=True, delay=0.0, max_depth=1)
        cfg = (Config().replace("run", source="web", filters=False).replace("dedup", enabled=False)
               .replace("web", seeds=(site.url + "/",), crawl=crawl, max_tiles=2, viewport_width=400,
                        viewport_height=300, documents=False, figures=False, text_samples=False))
        assert cfg.ocr.policy == "auto"
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "out"))
    assert result.stats["errors"] == 0
    shots = {(r["uri"].removeprefix(site.url), r["locator"]): r for r in read_shards(tmp_path / "out").to_pylist()}
    page, image = shots[("/", "tile=0")], shots[("/img", "tile=0")]
    meta = json.loads(page["meta"])
    assert meta["ocr_source"] == "dom" and page["ocr"][0]["text"] == "The keeper's log"
    assert "ocr" not in meta  # no backend read it
    assert json.loads(shots[("/", "tile=1")]["meta"])["ocr_source"] == "dom"
    meta = json.loads(image["meta"])
    assert meta["ocr_needed"] == "no_dom_text" and meta["ocr_source"] == "ocr"
    assert "Notice" in image["ocr_text"]


def test_policy_all_still_reads_a_screenshot_and_scores_it_against_the_dom_text():
    short = PAGE.split("<div class='cols'>")[0] + f"<p>{LEFT[0]}</p></main></body></html>"
    with Site({"/": Reply(short)}) as site:
        rows = samples(site.url + "/", max_tiles=1, viewport_width=480, viewport_height=240)
    shot = rows[0]
    assert json.loads(shot["meta"])["ocr_source"] == "dom"
    stage = OcrStage(OcrConfig(policy="all"))
    stage.setup()
    (read,) = stage.process(to_table([shot])).to_pylist()
    meta = json.loads(read["meta"])
    assert meta["ocr_source"] == "ocr" and meta["dom_check"]["lines"] == len(shot["ocr"])
    assert read["quality"]["ocr_cer"] is not None  # OCR against `text` (the blocks, cut by the tile's edge)
    assert cer(shot["ocr_text"], read["ocr_text"]) < 0.1, (shot["ocr_text"], read["ocr_text"])


def test_book_pages_of_a_local_document_take_their_lines_from_the_dom_on_a_dark_template(tmp_path):
    book = tmp_path / "log.html"
    book.write_text("<html><body><h1>The keeper's log</h1>" + "".join(f"<p>{p}</p>" for p in LONG[:12])
                    + "</body></html>")
    src = WebSource(WebConfig(templates=("dark",), figures=False, documents=False))
    pages = [r for u in src.plan([str(book)]) for r in src.expand(u) if r["kind"] == "page"]
    assert pages
    for row in pages:
        meta = json.loads(row["meta"])
        assert meta["ocr_source"] == "dom" and meta["dom_check"]["text_ink"] > 0.9, meta["dom_check"]
        assert squeeze(row["ocr_text"]) == squeeze(row["text"])
