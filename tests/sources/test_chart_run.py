"""`--source chart` on a real local Ray: charts with tables, code, questions, tags and instructions."""

from __future__ import annotations

import csv
import io

import pytest

from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards

pytestmark = pytest.mark.usefixtures("ray_session")


def test_a_chart_build_gives_every_chart_its_table_code_questions_and_tags(tmp_path):
    cfg = Config().replace("run", source="chart").replace("chart", count=12, per_unit=5).replace("ocr", backend="none")
    result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "out"))
    rows = read_shards(tmp_path / "out").to_pylist()
    assert result.stats["errors"] == 0 and len(rows) == 12 and len({r["id"] for r in rows}) == 12
    for r in rows:
        assert r["kind"] == "chart" and r["image"]["bytes"] and r["code"].count("savefig") == 1
        header, *body = list(csv.reader(io.StringIO(r["table"])))
        assert len(header) >= 2 and body
        assert {"conversion.image_to_code", "analysis.data_chart"} <= set(r["tags"])
        turns = r["messages"]
        assert turns[0]["role"] == "user" and turns[0]["content"].startswith("<image>")
        answers = [t["content"] for t in turns if t["role"] == "assistant"]
        assert r["code"] in answers  # plot-to-code pair, answered with the code itself
        assert answers.count(r["table"]) <= 1  # the chart-to-table answer is never given twice
