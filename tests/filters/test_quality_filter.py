"""The quality filter stage: loads the project's classifier on the driver, ships it inside the stage."""

from __future__ import annotations

import pickle

import pytest

from filters.quality import QualityConfig, QualityFilter
from pipelines.schema import to_table
from pipelines.stage import StageUnavailable
from tests.filters.test_quality_model import PROSE_EN, PROSE_ZH, SPAM


def test_spam_is_dropped_prose_is_kept_and_images_are_not_judged():
    stage = QualityFilter()
    stage.preflight()
    worker_copy = pickle.loads(pickle.dumps(stage))  # what a Ray worker receives: the model travels inside
    worker_copy.setup()  # once per worker process, by the runner
    rows = [{"id": "en", "kind": "text", "text": PROSE_EN, "keep": True},
            {"id": "zh", "kind": "text", "text": PROSE_ZH, "keep": True},
            {"id": "page", "kind": "page", "text": SPAM[0], "keep": True},
            *[{"id": f"spam{i}", "kind": "text", "text": t, "keep": True} for i, t in enumerate(SPAM)]]
    out = {r["id"]: r for r in worker_copy.process(to_table(rows)).to_pylist()}
    assert out["en"]["keep"] and out["zh"]["keep"] and out["page"]["keep"]
    assert out["page"]["quality"] is None or out["page"]["quality"]["quality_prob"] is None
    for i in range(len(SPAM)):
        assert out[f"spam{i}"]["drop_reason"] == "quality_filter:low_quality", out[f"spam{i}"]["quality"]


def test_a_missing_model_file_is_named_before_the_run(tmp_path):
    with pytest.raises(StageUnavailable, match="does not exist"):
        QualityFilter(QualityConfig(model=str(tmp_path / "nope.bin"))).preflight()
