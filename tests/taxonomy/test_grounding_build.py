"""A real build on Ray writes grounding turns into the shards whose boxes are where PyMuPDF's `search_for`
finds their text: upright, turned, cropped and Chinese pages, repeated phrases; none is malformed."""

from __future__ import annotations

import json

import pymupdf
import pytest

from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards
from taxonomy.grounding.boxes import iou, is_valid, parse
from tests.taxonomy.grounding_pdf import REPEATED, REPEATED_ZH, make_manual, search_boxes

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grounding-build")
    manual = make_manual(folder / "manual.pdf")
    cfg = Config().replace("run", inputs=(str(manual),)).replace("ocr", backend="none")
    cfg = cfg.replace("grounding", max_turns=64)  # every turn the pages can give, to check them all
    out = folder / "out"
    run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out))
    return manual, out


def test_grounding_turns_in_the_shards_are_where_search_for_finds_their_text(built):
    manual, out = built
    rows = [r for r in read_shards(out).to_pylist() if r["kind"] == "page"]
    assert sorted(json.loads(r["meta"])["page"] for r in rows) == [1, 2, 3, 4]
    repeated = {}
    with pymupdf.open(manual) as doc:
        for row in rows:
            meta = json.loads(row["meta"])
            page, zoom = doc.load_page(meta["page"] - 1), meta["dpi"] / 72
            assert "recognition.grounding" in row["tags"] and meta["grounding"]["text_from"] == "text_layer"
            messages = row["messages"]
            measured = 0
            for q, a in zip(messages[0::2], messages[1::2], strict=True):
                asked, answered = parse(q["content"]), parse(a["content"])
                if asked:
                    text, boxes = a["content"], asked[0][1]
                elif answered and answered[0][0] and not answered[0][0].startswith(("the ", "标题为")) \
                        and not answered[0][0].endswith("的标题"):
                    text, boxes = answered[0]
                else:
                    continue
                hits = search_boxes(page, text, zoom, row["width"], row["height"])
                assert hits and all(max(iou(b, h) for h in hits) >= 0.5 for b in boxes), (meta["page"], text)
                measured += 1
                if text in (REPEATED, REPEATED_ZH) and not asked:
                    repeated[meta["page"]] = len(boxes)
            assert measured >= 4, meta["page"]
            if meta["page"] == 4:  # the language filter found Chinese: the questions are Chinese
                assert row["lang"] == "zh" and not any("Where is" in m["content"] for m in messages)
    assert repeated == {1: 3, 2: 3, 3: 2, 4: 2}


def test_no_shard_row_carries_a_malformed_or_empty_box(built):
    _, out = built
    table = read_shards(out)
    for messages in table.column("messages").to_pylist():
        for m in messages or []:
            for _, boxes in parse(m["content"]):
                assert boxes and all(is_valid(b) for b in boxes), m["content"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept_by_tag"]["recognition.grounding"] == 4


def test_the_report_draws_a_page_with_its_grounding_boxes(built):
    from pipelines.report import build_report

    _, out = built
    page = build_report(out).read_text(encoding="utf-8")
    section = page[page.index("<h2>Grounding boxes on a page</h2>"):]
    section = section[: section.index("</section>")]
    assert "<img" in section and "alt=\"grounding boxes\"" in section
    assert section.count("<li ") >= 4  # the turns, listed beside the drawing
