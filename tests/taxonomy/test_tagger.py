"""The tagger on samples of each kind, and instructions whose answers are the samples' own ground truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipelines.schema import to_table
from taxonomy.instructions import IMAGE_TOKEN, InstructionBuilder, load_tasks
from taxonomy.tagger import CHART_TAGS, NEEDS_IMAGE, Tagger, TaggerConfig, holds_table
from taxonomy.tree import load_taxonomy

PNG = {"bytes": b"\x89PNG fake bytes: the tagger never decodes", "path": None}
PAGE_TEXT = ("Quarterly revenue rose by 12 per cent, driven by the northern stores.\nCosts were flat, and the "
             "board proposes a dividend of 40 cents per share.")
EQUATIONS = ("Solve for x: 3x + 7 = 22. Then find the area of a triangle with base 6 cm and height 4 cm. "
             "计算下列方程的解：2x - 5 = 9，并求出三角形的面积。")


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    t = Tagger()
    t.preflight()
    t.setup()
    return t


def run(stage, rows):
    return {r["id"]: r for r in stage.process(to_table(rows)).to_pylist()}


def test_each_kind_gets_the_use_cases_its_ground_truth_supports(tagger):
    rows = [
        {"id": "page", "kind": "page", "image": PNG, "text": PAGE_TEXT, "keep": True},
        {"id": "scan", "kind": "page", "image": PNG, "text": "", "keep": True},
        {"id": "shot", "kind": "screenshot", "image": PNG, "text": PAGE_TEXT, "html": "<p>hi</p>", "keep": True},
        {"id": "chart", "kind": "chart", "image": PNG, "text": "Figure 2: revenue by region", "table": "a,b\n1,2",
         "code": "plt.bar([1], [2])", "keep": True},
        {"id": "figure", "kind": "figure", "image": PNG, "text": "Fig. 3. The harbour at dawn.", "keep": True},
        {"id": "text", "kind": "text", "text": PAGE_TEXT, "keep": True},
    ]
    out = run(tagger, rows)
    assert out["page"]["tags"][0] == "recognition.ocr_transcription" and out["page"]["tag_scores"][0] == 1.0
    assert "recognition.ocr_transcription" not in (out["scan"]["tags"] or [])  # no text layer: nothing to copy
    assert out["shot"]["tags"][:2] == ["recognition.ocr_transcription", "conversion.image_to_code"]
    assert out["chart"]["tags"][:3] == ["conversion.image_to_code", "analysis.data_chart",
                                        "recognition.global_description"]
    assert out["figure"]["tags"][0] == "recognition.global_description"
    assert "recognition.ocr_transcription" not in (out["text"]["tags"] or [])  # no image, no transcription
    ids = set(load_taxonomy().subcategories)
    for r in out.values():
        assert len(r["tags"] or []) == len(r["tag_scores"] or []) <= 3
        assert set(r["tags"] or []) <= ids
        assert list(r["tag_scores"] or []) == sorted(r["tag_scores"] or [], reverse=True)


def test_the_classifier_adds_tags_from_the_content_and_a_threshold_drops_weak_ones(tagger):
    row = {"id": "maths", "kind": "page", "image": PNG, "text": EQUATIONS, "keep": True}
    tags = run(tagger, [row])["maths"]
    assert tags["tags"][0] == "recognition.ocr_transcription"
    assert "logical_reasoning.mathematical" in tags["tags"][1:], tags
    strict = Tagger(TaggerConfig(min_score=0.99))
    strict._model = tagger._model
    assert run(strict, [row])["maths"]["tags"] == ["recognition.ocr_transcription"]


def test_instruction_answers_equal_the_ground_truth_they_came_from(tagger):
    rows = [
        {"id": "page", "kind": "page", "image": PNG, "text": "  " + PAGE_TEXT + "\n", "lang": "en", "keep": True,
         "meta": json.dumps({"text_layer": True})},
        {"id": "zh", "kind": "page", "image": PNG, "text": "图书馆每天上午八点开放，晚上十点关闭，读者凭证件借阅图书。",
         "lang": "zh", "keep": True},
        {"id": "chart", "kind": "chart", "image": PNG, "text": "Figure 2: revenue by region", "table": "a,b\n1,2",
         "code": "plt.bar([1], [2])", "lang": "en", "keep": True,
         "messages": [{"role": "user", "content": "<image>\nWhich bar is highest?"},
                      {"role": "assistant", "content": "b"}]},
        {"id": "ocr_scan", "kind": "page", "image": PNG, "text": PAGE_TEXT, "lang": "en", "keep": True,
         "meta": json.dumps({"text_source": "ocr"})},
    ]
    tagged = InstructionBuilder().process(tagger.process(to_table(rows)))
    out = {r["id"]: r for r in tagged.to_pylist()}
    page = out["page"]["messages"]
    assert [m["role"] for m in page] == ["user", "assistant"] and page[0]["content"].startswith(IMAGE_TOKEN)
    assert page[1]["content"] == PAGE_TEXT  # the text layer, verbatim (ends trimmed)
    zh = out["zh"]["messages"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh[0]["content"])  # asked in Chinese
    assert zh[1]["content"] == rows[1]["text"]
    chart = out["chart"]["messages"]
    assert chart[:2] == rows[2]["messages"]  # the source's own questions are kept first
    answers = [m["content"] for m in chart[2:] if m["role"] == "assistant"]
    assert answers == ["Figure 2: revenue by region", "a,b\n1,2", "plt.bar([1], [2])"]  # templates-file order
    assert sum(m["content"].startswith(IMAGE_TOKEN) for m in chart) == 1  # one image, one placeholder
    assert out["ocr_scan"]["messages"] is None  # OCR's reading is not ground truth


def test_instructions_follow_only_tags_that_are_facts_about_the_sample():
    """A classifier's guess of 'description' on a page never makes the page text a description."""
    row = {"id": "p", "kind": "page", "image": PNG, "text": PAGE_TEXT, "lang": "en", "keep": True,
           "tags": ["recognition.global_description"], "tag_scores": [0.9]}
    assert InstructionBuilder().process(to_table([row])).to_pylist()[0]["messages"] is None


def test_every_template_task_names_a_real_subcategory_and_a_sample_column():
    ids = set(load_taxonomy().subcategories)
    from pipelines.schema import COLUMNS

    for task in load_tasks():
        assert task.tag in ids and task.answer in COLUMNS and task.requests["en"] and task.requests["zh"]


def _prose() -> list[str]:
    """Real documentation passages (tests/filters/data/README.md)."""
    path = Path(__file__).parents[1] / "filters" / "data" / "python_doc_passages.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def test_text_samples_of_real_prose_get_no_chart_or_image_use_cases(tagger):
    """The classifier proposed analysis.data_chart for documentation prose full of numbers ("an int from 0
    through 23"); a text sample has no image, and no chart unless its text holds table data."""
    rows = [{"id": str(i), "kind": "text", "text": t, "keep": True} for i, t in enumerate(_prose())]
    tags = [t for r in run(tagger, rows).values() for t in (r["tags"] or [])]
    assert not [t for t in tags if t in CHART_TAGS or t.startswith(NEEDS_IMAGE)], Counter(tags)
    # The same prose on a page image may still be a chart's or a transcription's.
    page = run(tagger, [{"id": "p", "kind": "page", "image": PNG, "text": _prose()[0], "keep": True}])["p"]
    assert page["tags"][0] == "recognition.ocr_transcription"


def test_chart_data_in_a_text_is_told_from_prose_with_numbers():
    assert holds_table("year,sales,profit\n2020,10.5,2\n2021,12,3.1\n2022,15,4")
    assert holds_table("| region | 2022 | 2023 |\n|---|---|---|\n| north | 12% | 15% |\n| south | 9% | 8% |\n"
                       "| east | 4% | 6% |")
    assert holds_table("Q1    1,200    300\nQ2    1,450    320\nQ3    1,610    298")
    # Of 300 documentation passages, only the flattened strftime table ("01, 02, …, 31" rows) reads as one.
    assert sum(holds_table(t) for t in _prose()) <= 1
    assert not holds_table("Return the hour, as an int from 0 through 23.\nReturn the minute, as an int from 0 "
                           "through 59.\nReturn the second, as an int from 0 through 59.")
