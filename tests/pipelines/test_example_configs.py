from pathlib import Path

import pytest

from pipelines.config import Config, load

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    load(path)


def test_pdf_example_states_the_defaults():
    assert load(Path(__file__).resolve().parents[2] / "configs" / "pdf.toml") == Config()


def test_chart_example_states_the_chart_defaults():
    cfg = load(Path(__file__).resolve().parents[2] / "configs" / "chart.toml")
    assert cfg.chart == Config().chart and cfg.run.source == "chart"
