"""Synthetic charts without Ray: tables, answers rechecked from the CSV, images, reproducible code, the source."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from pipelines.config import config_class
from pipelines.schema import ERROR_COL, to_table
from pipelines.stage import InputError
from sources.chart import synth
from sources.chart.questions import ask
from sources.chart.source import ChartConfig, ChartSource
from taxonomy.instructions import IMAGE_TOKEN

CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
SEPARATOR = re.compile(r"[,，:：]")
TREND = {"Increasing": "up", "Decreasing": "down", "Fluctuating": "mixed",
         "持续上升": "up", "持续下降": "down", "有升有降": "mixed"}
CORRELATION = {"Positive": "pos", "Negative": "neg", "Weak": "weak",
               "正相关": "pos", "负相关": "neg", "相关性弱": "weak"}
SPECS = 400  # specs are cheap; only a handful are rendered


def parse(table: str) -> tuple[list[str], list[str], dict[str, list[float]], int]:
    """header, labels, columns by name, and the number of decimals the cells are written with."""
    rows = list(csv.reader(io.StringIO(table)))
    header, body = rows[0], rows[1:]
    cells = [c for r in body for c in r[1:]]
    decimals = {len(c.partition(".")[2]) for c in cells}
    assert len(decimals) == 1, f"cells are not written with one precision: {cells}"
    columns = {name: [float(r[j]) for r in body] for j, name in enumerate(header) if j > 0}
    return header, [r[0] for r in body], columns, decimals.pop()


def lead(answer: str) -> tuple[str, str]:
    """An answer's leading fact (a label, a trend word) and the rest."""
    m = SEPARATOR.search(answer)
    assert m, f"answer has no leading fact: {answer!r}"
    return answer[:m.start()], answer[m.end():]


def first_number(text: str) -> str:
    found = NUMBER.findall(text)
    assert found, f"no number in {text!r}"
    return found[0]


def pearson(xs: list[float], ys: list[float]) -> float:
    return float(np.corrcoef(xs, ys)[0, 1])


def check_answer(q, table: str) -> None:
    """Recompute the answer to `q` from the CSV alone and compare."""
    header, labels, cols, d = parse(table)
    fmt = lambda v: f"{v:.{d}f}"  # noqa: E731
    if q.kind in ("max", "min"):
        col = cols[q.about[0]]
        best = max(col) if q.kind == "max" else min(col)
        assert col.count(best) == 1
        label, rest = lead(q.answer)
        assert label == labels[col.index(best)] and first_number(rest) == fmt(best)
    elif q.kind == "value":
        c, s = q.about
        assert c in q.question and first_number(q.answer) == fmt(cols[s][labels.index(c)])
    elif q.kind == "compare":
        s, c1, c2 = q.about
        v1, v2 = cols[s][labels.index(c1)], cols[s][labels.index(c2)]
        assert c1 in q.question and c2 in q.question and v1 != v2
        label, rest = lead(q.answer)
        assert label == (c1 if v1 > v2 else c2) and first_number(rest) == fmt(abs(v1 - v2))
    elif q.kind == "trend":
        col = cols[q.about[0]]
        steps = np.diff(col)
        expected = "up" if (steps > 0).all() else "down" if (steps < 0).all() else "mixed"
        word, rest = lead(q.answer)
        assert TREND[word] == expected
        if expected == "mixed":
            assert NUMBER.findall(rest)[:2] == [fmt(min(col)), fmt(max(col))]
        else:
            assert fmt(col[0]) in rest and fmt(col[-1]) in rest
    elif q.kind == "series_max":
        (c,) = q.about
        at = {s: cols[s][labels.index(c)] for s in header[1:]}
        top = max(at.values())
        assert list(at.values()).count(top) == 1 and c in q.question
        label, rest = lead(q.answer)
        assert at[label] == top and first_number(rest) == fmt(top)
    elif q.kind == "max_total":
        totals = [sum(col[i] for col in cols.values()) for i in range(len(labels))]
        label, rest = lead(q.answer)
        assert first_number(rest) == fmt(max(totals)) and fmt(totals[labels.index(label)]) == fmt(max(totals))
    elif q.kind == "total":
        rows = [labels.index(q.about[0])] if q.about else range(len(labels))
        assert first_number(q.answer) == fmt(sum(col[i] for col in cols.values() for i in rows))
    elif q.kind == "share":
        (col,) = cols.values()
        v = col[labels.index(q.about[0])]
        assert first_number(q.answer) == f"{v / sum(col) * 100:.1f}"
    elif q.kind == "correlation":
        r = pearson([float(x) for x in labels], cols[q.about[0]])
        expected = "pos" if r >= 0.5 else "neg" if r <= -0.5 else "weak" if abs(r) < 0.2 else None
        assert CORRELATION[lead(q.answer)[0]] == expected
    elif q.kind == "to_table":
        assert q.answer == table
    else:
        raise AssertionError(f"unchecked question kind {q.kind}")


def test_table_is_csv_with_the_category_column_then_one_numeric_column_per_series():
    for seed in range(SPECS):
        spec = synth.make_spec(seed)
        header, labels, cols, d = parse(synth.table_csv(spec))
        assert header == [spec.x_label, *spec.series] and d == spec.decimals
        assert labels == list(spec.categories) and len(set(labels)) == len(labels)
        assert all(len(col) == len(labels) for col in cols.values())
        if spec.chart_type == "pie":
            assert len(header) == 2 and all(v > 0 for v in cols[header[1]])
            if spec.unit == "%":
                assert f"{sum(cols[header[1]]):.1f}" == "100.0"
        if spec.chart_type in ("stacked_bar", "area"):
            assert all(v >= 0 for col in cols.values() for v in col)


def test_every_answer_agrees_with_the_table():
    kinds, trends, words = Counter(), Counter(), Counter()
    for seed in range(SPECS):
        spec = synth.make_spec(seed)
        table = synth.table_csv(spec)
        for q in ask(spec, table, random.Random(seed)):
            check_answer(q, table)
            kinds[q.kind] += 1
            if q.kind == "trend":
                trends[TREND[lead(q.answer)[0]]] += 1
            if q.kind == "correlation":
                words[CORRELATION[lead(q.answer)[0]]] += 1
            assert bool(CJK.search(q.question)) == (spec.lang == "zh")
    assert set(kinds) == {"max", "min", "value", "compare", "trend", "series_max", "max_total", "total", "share",
                          "correlation", "to_table"}
    assert set(trends) == {"up", "down", "mixed"} and {"pos", "neg"} <= set(words)


def test_questions_are_pairs_in_the_charts_language():
    spec = next(s for s in map(synth.make_spec, range(SPECS)) if s.lang == "zh" and s.chart_type == "pie")
    pairs = synth.questions(spec, random.Random(0))
    assert pairs and all(isinstance(q, str) and isinstance(a, str) for q, a in pairs)
    assert all(CJK.search(q) for q, _ in pairs)


def test_every_chart_type_and_both_languages_occur_and_chinese_charts_have_chinese_titles():
    specs = [synth.make_spec(seed) for seed in range(SPECS)]
    assert {s.chart_type for s in specs} == set(synth.CHART_TYPES)
    langs = Counter(s.lang for s in specs)
    assert 0.2 < langs["zh"] / len(specs) < 0.4
    assert all(bool(CJK.search(s.title)) == (s.lang == "zh") for s in specs)
    assert len({s.topic for s in specs}) >= 15 and len({s.style.sheet for s in specs}) >= 5
    only_pies = [synth.make_spec(seed, types=("pie",), zh_share=0.0) for seed in range(50)]
    assert {s.chart_type for s in only_pies} == {"pie"} and {s.lang for s in only_pies} == {"en"}


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    """One rendered chart of every type in English, and three in Chinese."""
    want = [(t, "en") for t in synth.CHART_TYPES] + [("pie", "zh"), ("line", "zh"), ("stacked_bar", "zh")]
    seeds = {}
    for seed in range(SPECS):
        spec = synth.make_spec(seed)
        seeds.setdefault((spec.chart_type, spec.lang), seed)
    return [synth.chart_sample(seeds[k]) for k in want]


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=np.int16)


def test_images_have_the_declared_size_and_are_not_blank(samples):
    for row in samples:
        im = Image.open(io.BytesIO(row["image"]["bytes"]))
        assert im.format == "PNG" and im.size == (row["width"], row["height"])
        assert np.asarray(im.convert("L"), dtype=np.float32).std() > 10


def test_the_code_column_run_on_its_own_redraws_the_image(samples, tmp_path):
    runs = []
    for i, row in enumerate(samples):
        folder = tmp_path / f"chart{i}"
        folder.mkdir()
        (folder / "chart.py").write_text(row["code"], encoding="utf-8")
        runs.append(subprocess.Popen([sys.executable, "chart.py"], cwd=folder, env={**os.environ, "MPLBACKEND": "Agg"},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for i, (row, run) in enumerate(zip(samples, runs, strict=True)):
        out, _ = run.communicate(timeout=120)
        assert run.returncode == 0, out
        redrawn = decode((tmp_path / f"chart{i}" / "chart.png").read_bytes())
        original = decode(row["image"]["bytes"])
        assert redrawn.shape == original.shape
        assert np.abs(redrawn - original).mean() < 1, json.loads(row["meta"])["chart_type"]


def test_same_seed_gives_identical_bytes_and_other_seeds_other_charts(samples):
    again = synth.chart_sample(json.loads(samples[0]["meta"])["seed"])
    assert again == samples[0]
    assert len({r["id"] for r in samples}) == len({r["image"]["bytes"] for r in samples}) == len(samples)


def test_sample_rows_fit_the_schema_and_open_with_the_image_token(samples):
    table = to_table(samples)
    assert table.num_rows == len(samples)
    for row in samples:
        assert (row["source"], row["kind"], row["uri"]) == ("chart", "chart", "synthetic://chart")
        assert row["text"] and row["table"] and 'fig.savefig("chart.png", dpi=' in row["code"]
        msgs = row["messages"]
        assert msgs[0]["content"].startswith(f"{IMAGE_TOKEN}\n")
        assert sum(IMAGE_TOKEN in m["content"] for m in msgs) == 1
        assert [m["role"] for m in msgs] == ["user", "assistant"] * (len(msgs) // 2)
        meta = json.loads(row["meta"])
        asked = meta["questions"]
        assert 3 <= len([k for k in asked if k != "to_table"]) <= 5 and len(msgs) == 2 * len(asked)
        assert meta["stage"] == "chart_synth/1" and meta["style"]["dpi"] > 0
        assert row["locator"] == f"seed={meta['seed']}"
        if row["lang"] == "zh":
            assert "Noto Sans CJK SC" in row["code"] and CJK.search(row["text"])


def test_rendering_leaves_no_open_figures_and_no_changed_settings():
    before = dict(plt.rcParams)
    open_before = plt.get_fignums()
    for seed in range(3):
        synth.render(synth.make_spec(seed))
    assert plt.get_fignums() == open_before and dict(plt.rcParams) == before


def test_a_missing_cjk_font_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(synth, "cjk_font", lambda: None)
    spec = next(s for s in map(synth.make_spec, range(SPECS)) if s.lang == "zh")
    with pytest.raises(InputError, match="fonts-noto-cjk") as e:
        synth.render(spec)
    assert e.value.error_type == "MissingFont"


def test_plan_covers_the_seeds_in_stable_units_and_limit_caps_them():
    src = ChartSource(ChartConfig(count=7, seed=10, per_unit=3))
    units = src.plan(["ignored"])
    assert [u.id for u in units] == ["chart#10-12", "chart#13-15", "chart#16-16"]
    assert [u.size for u in units] == [3, 3, 1] and [u.id for u in src.plan([])] == [u.id for u in units]
    limited = src.plan([], limit=4)
    assert [u.id for u in limited] == ["chart#10-12", "chart#13-13"] and src.plan([], limit=0) == []
    rows = [r for u in limited for r in src.expand(u)]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    assert [r["locator"] for r in rows] == [f"seed={s}" for s in range(10, 14)]


def test_a_failing_seed_becomes_one_error_row_and_the_rest_are_kept(monkeypatch):
    real = synth.chart_sample

    def flaky(seed, **kw):
        if seed == 1:
            raise ValueError("boom")
        return real(seed, **kw)

    monkeypatch.setattr(synth, "chart_sample", flaky)
    src = ChartSource(ChartConfig(count=3, types=("bar",)))
    rows = [r for u in src.plan([]) for r in src.expand(u)]
    errors = [r for r in rows if r.get(ERROR_COL)]
    assert len(rows) == 3 and len(errors) == 1 and errors[0]["locator"] == "seed=1"
    assert json.loads(errors[0][ERROR_COL])["error_type"] == "ValueError"


def test_bad_settings_are_refused_with_the_key_named():
    cfg = config_class()()
    with pytest.raises(ValueError, match="chart.types"):
        cfg.replace("chart", types=("bar", "radar")).validate()
    with pytest.raises(ValueError, match="chart.zh_share"):
        cfg.replace("chart", zh_share=1.5).validate()
