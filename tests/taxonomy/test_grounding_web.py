"""Grounding on screenshots of local pages rendered by the real Chromium: element turns land on the element
as the screenshot shows it (each element is painted in a colour of its own), text turns on the DOM's boxes."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from sources.web.crawl import CrawlConfig
from sources.web.source import WebConfig, WebSource
from taxonomy.grounding.boxes import iou, parse, scaled, unscaled
from taxonomy.grounding.referents import pixel_box
from taxonomy.grounding.stage import GroundingBuilder, GroundingConfig
from tests.sources.web.sites import Reply, Site


def _png(colour: tuple[int, int, int], size: tuple[int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


# Each element a user could point at has a background colour no other pixel has.
COLOURS = {"heading": (255, 0, 0), "button": (0, 160, 0), "link": (255, 128, 0), "field": (0, 0, 255),
           "table": (255, 230, 0), "image": (255, 0, 255)}
PAGE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harbour office</title><style>
body{{font-family:'DejaVu Sans';margin:40px;background:#fff;color:#222;font-size:18px}}
h1{{font-size:32px;line-height:1;background:rgb{COLOURS['heading']};color:#fff;width:fit-content;margin:0 0 30px}}
button{{background:rgb{COLOURS['button']};color:#fff;border:none;font-size:20px;padding:8px 16px;font-family:inherit}}
a{{background:rgb{COLOURS['link']};color:#000;text-decoration:none}}
input{{background:rgb{COLOURS['field']};color:#fff;border:none;font-size:18px;padding:6px;width:260px}}
table,caption{{background:rgb{COLOURS['table']}}} table{{border-collapse:collapse;margin-top:30px}}
td,th{{padding:6px 20px}}
p{{margin:24px 0}}
</style></head><body><main>
<h1>Harbour office</h1>
<p>Boats leave at dawn. Timetables change with the tide, so <a href="/times">Read the tide tables</a> first.</p>
<form><label for="boat">Boat name</label> <input id="boat" value="">
<button type="button">Book a mooring</button></form>
<table><caption>Moorings per pier</caption><tr><th>Pier</th><th>Moorings</th></tr>
<tr><td>North pier</td><td>14</td></tr><tr><td>South pier</td><td>9</td></tr></table>
<p>Harbour map:</p>
<img alt="Map of the harbour" width="220" height="120" src="data:image/png;base64,{_png(COLOURS['image'], (220, 120))}">
</main></body></html>"""


def painted(row: dict, colour: tuple[int, int, int]) -> tuple[float, float, float, float]:
    """The box of the pixels of exactly `colour` in the sample's image."""
    pixels = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")).astype(int)
    ys, xs = np.nonzero(np.abs(pixels - np.array(colour)).sum(axis=2) <= 6)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


@pytest.fixture(scope="module")
def screenshot() -> dict:
    crawl = CrawlConfig(allow_private=True, delay=0.0, max_depth=0)
    with Site({"/": Reply(PAGE)}) as site:
        src = WebSource(WebConfig(seeds=(site.url + "/",), crawl=crawl, figures=False))
        rows = [row for unit in src.plan([]) for row in src.expand(unit)]
    return next(r for r in rows if r["kind"] == "screenshot")


def grounded(row: dict, max_turns: int = 64) -> dict:
    row = {**row, "keep": True, "lang": "en"}
    GroundingBuilder(GroundingConfig(max_turns=max_turns)).ground(row)
    return row


def test_the_dom_reports_each_element_by_role_and_visible_label(screenshot):
    targets = json.loads(screenshot["meta"])["targets"]
    found = {(t["role"], t["label"]) for t in targets}
    assert {("heading", "Harbour office"), ("link", "Read the tide tables"), ("field", "Boat name"),
            ("button", "Book a mooring"), ("table", "Moorings per pier"), ("image", "Map of the harbour")} <= found


def test_element_turns_point_at_the_element_the_screenshot_shows(screenshot):
    row = grounded(screenshot)
    w, h = row["width"], row["height"]
    answers = {m["content"] for m in row["messages"] if m["role"] == "assistant"}
    seen = set()
    for answer in answers:
        for ref, boxes in parse(answer):
            role = next((r for r in COLOURS if ref and ref.startswith(f"the {r if r != 'field' else 'input field'}")),
                        None)
            if role is None:
                continue
            seen.add(role)
            assert len(boxes) == 1, answer
            assert iou(unscaled(boxes[0], w, h), painted(row, COLOURS[role])) >= 0.7, (answer, role)
    assert seen >= {"button", "link", "field", "table", "image"}


def test_text_turns_on_a_screenshot_are_the_dom_boxes(screenshot):
    row = grounded(screenshot)
    w, h = row["width"], row["height"]
    blocks = {b["text"]: pixel_box(b["box"]) for b in json.loads(screenshot["meta"])["boxes"]}
    texts = 0
    for q, a in zip(row["messages"][0::2], row["messages"][1::2], strict=True):
        asked, answered = parse(q["content"]), parse(a["content"])
        if asked:  # region reading: the box is a DOM block's, the answer its text
            text, box = a["content"], asked[0][1][0]
        elif answered and answered[0][0] in blocks:
            text, box = answered[0][0], answered[0][1][0]
        else:
            continue
        texts += 1
        assert box == scaled(blocks[text], w, h)
    assert texts >= 3
    # The heading, as text or as a heading element, is where its red background is.
    pairs = list(zip(row["messages"][0::2], row["messages"][1::2], strict=True))
    heading = [g for q, a in pairs if "Harbour office" in a["content"]
               for g in parse(q["content"]) + parse(a["content"])]
    assert heading and all(iou(unscaled(boxes[0], w, h), painted(row, COLOURS["heading"])) >= 0.7
                           for _, boxes in heading)


def test_a_screenshot_gets_at_most_max_turns_the_same_ones_every_time(screenshot):
    first, again = grounded(screenshot, 4), grounded(screenshot, 4)
    assert len(first["messages"]) == 8 and first["messages"] == again["messages"]
    assert first["messages"][0]["content"].startswith("<image>\n")
    assert "recognition.grounding" in first["tags"]
