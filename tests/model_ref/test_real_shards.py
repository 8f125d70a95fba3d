"""The trainer on shards the real pipeline wrote: charts built by `--source chart` on local Ray
(image, title, table, questions in `messages` with the `<image>` placeholder), all three stages,
then a question about one of the charts."""

from __future__ import annotations

import pytest

from model_ref import train as trainer
from model_ref.generate import Generator
from model_ref.metrics import read_metrics
from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards

pytestmark = pytest.mark.usefixtures("ray_session")


def test_three_stages_train_on_a_chart_build_and_the_model_answers_about_a_chart(tmp_path):
    cfg = (Config().replace("run", source="chart").replace("chart", count=16, per_unit=8)
           .replace("ocr", backend="none"))
    run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "chart"))
    out = tmp_path / "ckpt"
    assert trainer.main(["--data", str(tmp_path / "chart"), "--stage", "all", "--steps", "3", "--out", str(out),
                         "--batch-size", "4", "--workers", "0", "--eval-batches", "1"]) == 0
    rows = read_metrics(out)
    assert [(r["stage"], r["step"]) for r in rows] == [(s, i) for s in (1, 2, 3) for i in (1, 2, 3)]
    assert all(r["modality"] == "multimodal" for r in rows)  # charts carry no text-only rows
    assert all(r["loss"] > 0 for r in rows)
    image = tmp_path / "chart.png"
    image.write_bytes(read_shards(tmp_path / "chart").column("image")[0].as_py()["bytes"])
    assert isinstance(Generator(out).answer("What is the title of this chart?", image, max_new_tokens=5), str)
