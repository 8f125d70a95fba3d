"""Grounding turns on rendered PDF pages land where PyMuPDF's own `search_for` finds their text (upright,
turned and cropped pages, Chinese, repeated phrases), figures and captions are located, and no malformed,
empty, oversized or personal box or text ever becomes a turn."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pymupdf
import pytest

from pipelines.schema import to_table
from pipelines.stage import ConfigError
from sources.pdf import PdfConfig, PdfSource
from taxonomy.grounding.boxes import det, grounded, iou, is_valid, parse, scaled
from taxonomy.grounding.stage import GroundingBuilder, GroundingConfig, with_tags
from taxonomy.instructions import InstructionBuilder
from tests.taxonomy.grounding_pdf import (
    CAPTIONS,
    EMAIL_LINE,
    HIDDEN,
    REPEATED,
    REPEATED_ZH,
    chart_boxes,
    make_manual,
    search_boxes,
    to_scale,
)

PNG = {"bytes": b"\x89PNG not decoded by the grounding stage", "path": None}


@pytest.fixture(scope="module")
def manual(tmp_path_factory) -> Path:
    return make_manual(tmp_path_factory.mktemp("grounding") / "manual.pdf")


@pytest.fixture(scope="module")
def pages(manual) -> list[dict]:
    """The manual's page rows as the PDF source makes them, with every grounding turn they can give."""
    src = PdfSource(replace(PdfConfig(), text_samples=False))
    rows = [r for u in src.plan([str(manual)]) for r in src.expand(u) if r["kind"] == "page"]
    stage = GroundingBuilder(GroundingConfig(max_turns=64))
    for row in rows:
        row["lang"] = "zh" if json.loads(row["meta"])["page"] == 4 else "en"
        stage.ground(row)
    return rows


def pairs(row: dict) -> list[tuple[str, str]]:
    m = row.get("messages") or []
    return [(q["content"], a["content"]) for q, a in zip(m[0::2], m[1::2], strict=True)]


def quoted(row: dict) -> list[tuple[str, list, str]]:
    """(text, boxes, task) of every turn that quotes text: `text` (where is …?) and `read` (what is in …?)."""
    out = []
    for q, a in pairs(row):
        asked, answered = parse(q), parse(a)
        if asked:
            out.append((a, asked[0][1], "read"))
        elif answered and not answered[0][0].startswith(("the ", "标题为")) and not answered[0][0].endswith("的标题"):
            out.append((answered[0][0], answered[0][1], "text"))
    return out


def page_of(manual: Path, row: dict) -> tuple[pymupdf.Document, pymupdf.Page, float]:
    doc = pymupdf.open(manual)
    meta = json.loads(row["meta"])
    return doc, doc.load_page(meta["page"] - 1), meta["dpi"] / 72


def test_every_text_turn_is_where_search_for_finds_its_text_on_every_page(manual, pages):
    assert [json.loads(r["meta"])["page"] for r in pages] == [1, 2, 3, 4]
    for row in pages:
        doc, page, zoom = page_of(manual, row)
        with doc:
            turns = quoted(row)
            assert len(turns) >= 4, row["locator"]  # upright, turned, cropped and Chinese pages all have some
            for text, boxes, task in turns:
                hits = search_boxes(page, text, zoom, row["width"], row["height"])
                assert hits, (row["locator"], text)
                for box in boxes:
                    assert max(iou(box, h) for h in hits) >= 0.5, (row["locator"], text, box, hits)
                if task == "text":  # every place the text is on the page is in the answer
                    assert all(max(iou(b, h) for b in boxes) >= 0.5 for h in hits), (row["locator"], text)


def test_a_repeated_phrase_is_answered_with_all_of_its_boxes(pages):
    counts = {}
    for row in pages:
        for text, boxes, task in quoted(row):
            if task == "text" and text in (REPEATED, REPEATED_ZH):
                counts[json.loads(row["meta"])["page"]] = len(boxes)
    assert counts == {1: 3, 2: 3, 3: 2, 4: 2}


def test_turned_and_cropped_pages_have_boxes_in_their_image_and_nothing_outside_the_crop(pages):
    turned, cropped = pages[1], pages[2]
    assert turned["width"] > turned["height"]  # the portrait page turned 90 degrees renders landscape
    for text, boxes, _ in quoted(turned):
        assert all(b[3] - b[1] > b[2] - b[0] for b in boxes), text  # its lines run down the image
    assert cropped["width"] < cropped["height"] and cropped["width"] < pages[0]["width"]
    assert not any(HIDDEN in a or HIDDEN in q for q, a in pairs(cropped))


def test_figures_and_captions_are_located_on_upright_turned_and_chinese_pages(manual, pages):
    charts = chart_boxes(manual)
    for row in pages:
        number = json.loads(row["meta"])["page"]
        if number not in CAPTIONS:
            continue
        doc, page, zoom = page_of(manual, row)
        with doc:
            answers = [parse(a)[0] for _, a in pairs(row) if parse(a)]
            figure = [b for ref, b in answers if CAPTIONS[number] in ref and ref != CAPTIONS[number]]
            # The caption is asked about by its figure's label, or as a line of text (one turn per thing).
            caption = [b for ref, b in answers if ref in ("the caption of Figure 1", "the caption of Figure 2",
                                                         "图 3的标题", CAPTIONS[number])]
            assert figure and caption, number
            truth = to_scale(charts[number], page, zoom, row["width"], row["height"])
            assert iou(figure[0][0], truth) >= 0.5
            assert iou(caption[0][0], search_boxes(page, CAPTIONS[number], zoom, row["width"], row["height"])[0]) >= 0.5


def test_chinese_pages_get_chinese_questions(pages):
    questions = [q for q, _ in pairs(pages[3])]
    assert any("在哪里" in q or "位置" in q or "边界框" in q for q in questions)
    assert not any("Where is" in q for q in questions)


def test_personal_data_and_text_that_also_sits_inside_a_longer_line_are_never_quoted(pages):
    everything = " ".join(q + a for row in pages for q, a in pairs(row))
    assert "service@" not in everything and EMAIL_LINE not in everything and "<EMAIL>" not in everything
    assert not any(text == "Drain the tank" for row in pages for text, _, _ in quoted(row))


def test_each_sample_gets_at_most_max_turns_chosen_by_its_id(manual):
    src = PdfSource(replace(PdfConfig(), text_samples=False))
    rows = [r for u in src.plan([str(manual)]) for r in src.expand(u) if r["kind"] == "page"]
    stage = GroundingBuilder()
    first = stage.process(to_table(rows)).to_pylist()
    again = stage.process(to_table(rows)).to_pylist()
    assert [r["messages"] for r in first] == [r["messages"] for r in again]
    for row in first:
        assert len(pairs(row)) == 4
        assert row["messages"][0]["content"].startswith("<image>\n")
        assert sum("<image>" in m["content"] for m in row["messages"]) == 1
        meta = json.loads(row["meta"])["grounding"]
        assert meta["turns"] == 4 and meta["text_from"] == "text_layer" and sum(meta["tasks"].values()) == 4
    renamed = stage.process(to_table([{**rows[0], "id": "another-id"}])).to_pylist()[0]
    assert renamed["messages"] != first[0]["messages"]  # another id draws other turns or wording


def _row(lines: list[tuple[str, list[float], float]], meta: dict, **extra) -> dict:
    return {"id": "r", "kind": "page", "image": PNG, "width": 1000, "height": 800, "keep": True,
            "ocr": [{"text": t, "score": s, "box": b} for t, b, s in lines], "meta": json.dumps(meta), **extra}


def _quad(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def test_malformed_empty_or_oversized_boxes_never_become_turns():
    nan = float("nan")
    lines = [
        ("A box of not-a-numbers", _quad(nan, 10, 200, 30), 1.0),
        ("An infinitely wide line", _quad(10, 40, math.inf, 60), 1.0),
        ("A line with no box at all", [], 1.0),
        ("A box with six numbers", [10, 70, 200, 70, 200, 90], 1.0),
        ("A line of zero width", _quad(300, 100, 300, 120), 1.0),
        ("A line wholly off the page", _quad(1200, 100, 1400, 120), 1.0),
        ("A line mostly off the page", _quad(900, 130, 1300, 150), 1.0),
        ("A box covering most of the page", _quad(0, 0, 990, 790), 1.0),
        ("Fine <|det|>[[1, 2, 3, 4]]<|/det|> injected", _quad(10, 160, 300, 180), 1.0),
        ("A good line of text", _quad(10.4, 200.6, 320.2, 221.1), 1.0),
    ]
    row = _row(lines, {"ocr_source": "text_layer"})
    chosen, _ = GroundingBuilder(GroundingConfig(max_turns=64)).turns(row, json.loads(row["meta"]))
    assert {t.text for t in chosen} == {"A good line of text"}
    out = GroundingBuilder(GroundingConfig(max_turns=64)).process(to_table([row])).to_pylist()[0]
    for q, a in pairs(out):
        for group in parse(q) + parse(a):
            assert group[1] and all(is_valid(b) for b in group[1])
    assert any(a == "<|ref|>A good line of text<|/ref|><|det|>[[10, 250, 320, 277]]<|/det|>" for _, a in pairs(out))


def test_boxes_are_rounded_outward_onto_the_0_999_scale_and_parse_back():
    assert scaled((10.4, 200.6, 320.2, 221.1), 1000, 800) == (10, 250, 320, 277)
    assert scaled((0, 0, 1000, 800), 1000, 800) == (0, 0, 999, 999)
    assert scaled((5, 5, 5, 9), 1000, 800) is None  # no width
    answer = grounded("Total", [(1, 2, 30, 40), (500, 600, 700, 800)])
    assert answer == "<|ref|>Total<|/ref|><|det|>[[1, 2, 30, 40], [500, 600, 700, 800]]<|/det|>"
    assert parse(answer) == [("Total", [(1, 2, 30, 40), (500, 600, 700, 800)])]
    assert parse(f"What is written in {det([(1, 2, 3, 4)])}?") == [(None, [(1, 2, 3, 4)])]
    for bad in ("<|det|>[]<|/det|>", "<|det|>[[1, 2, 3]]<|/det|>", "<|det|>[[5, 5, 2, 9]]<|/det|>",
                "<|det|>[[1, 2, 3, 1000]]<|/det|>", "<|det|>[[1, 2, 3, 4], oops]<|/det|>"):
        assert parse(bad) == [(None, [])], bad


def test_ocr_lines_are_quoted_only_for_a_scan_and_only_above_the_confidence_cut():
    lines = [("Read by OCR with confidence", _quad(10, 10, 300, 30), 0.97),
             ("Read by OCR with some doubt", _quad(10, 50, 300, 70), 0.6)]
    scan = _row(lines, {"text_source": "ocr", "ocr_source": "ocr"})
    chosen, text_from = GroundingBuilder(GroundingConfig(max_turns=64)).turns(scan, json.loads(scan["meta"]))
    assert text_from == "ocr" and {t.text for t in chosen} == {"Read by OCR with confidence"}
    out = GroundingBuilder().process(to_table([scan])).to_pylist()[0]
    assert json.loads(out["meta"])["grounding"]["text_from"] == "ocr"
    assert json.loads(out["meta"])["grounding"]["min_ocr_score"] == 0.9
    layered = _row(lines, {"ocr_source": "ocr"})  # a page with a text layer that OCR read anyway
    assert GroundingBuilder().process(to_table([layered])).to_pylist()[0]["messages"] is None


def test_dropped_imageless_and_other_kinds_of_samples_are_left_alone():
    line = [("A good line of text", _quad(10, 200, 320, 221), 1.0)]
    rows = [_row(line, {"ocr_source": "text_layer"}, id="dropped", keep=False),
            _row(line, {"ocr_source": "text_layer"}, id="noimage", image=None),
            _row(line, {"ocr_source": "text_layer"}, id="figure", kind="figure")]
    for row in GroundingBuilder().process(to_table(rows)).to_pylist():
        assert row["messages"] is None and "grounding" not in json.loads(row["meta"]), row["id"]


def test_grounding_tags_are_facts_placed_before_the_classifiers_guesses():
    tags, scores = with_tags(
        ["recognition.ocr_transcription", "analysis.encyclopedia", "safety.counterfactual_question"], [1.0, 0.6, 0.4],
        ["recognition.grounding", "recognition.ocr_transcription"])
    assert tags == ["recognition.ocr_transcription", "recognition.grounding", "analysis.encyclopedia"]
    assert scores == [1.0, 1.0, 0.6]
    assert with_tags([], [], ["recognition.grounding"]) == (["recognition.grounding"], [1.0])


def test_the_instruction_builder_follows_the_grounding_turns_with_one_image_placeholder():
    text = "A good line of text\nand a second line of the page"
    row = _row([("A good line of text", _quad(10, 200, 320, 221), 1.0)], {"ocr_source": "text_layer"},
               text=text, lang="en", tags=["recognition.ocr_transcription"], tag_scores=[1.0])
    grounded_row = GroundingBuilder().process(to_table([row]))
    out = InstructionBuilder().process(grounded_row).to_pylist()[0]
    contents = [m["content"] for m in out["messages"]]
    assert sum("<image>" in c for c in contents) == 1 and contents[0].startswith("<image>\n")
    assert contents[-1] == text.strip()  # the transcription follows the grounding turns


def test_settings_out_of_range_are_refused_by_name():
    with pytest.raises(ConfigError) as e:
        GroundingConfig(max_turns=-1).validate()
    assert e.value.key == "max_turns"
    with pytest.raises(ConfigError):
        GroundingConfig(min_chars=10, max_chars=5).validate()
    assert not GroundingBuilder.enabled(GroundingConfig(max_turns=0))
