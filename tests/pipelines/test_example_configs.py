import dataclasses
import tomllib
from pathlib import Path

import pytest

from pipelines.config import config_class, load

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    load(path)


def _incomplete_sections(data: dict, cls: type, prefix: str = "") -> list[str]:
    """Sections of a TOML table whose keys are not exactly their dataclass's fields (missing or extra).
    Settings whose default is None may be left out (TOML has no null; the shipped files show them in comments)."""
    problems = []
    fields = {f.name: f for f in dataclasses.fields(cls)}
    required = {n for n, f in fields.items() if f.default is not None}
    if prefix and not (required <= set(data) <= set(fields)):
        problems.append(f"[{prefix.rstrip('.')}] missing {sorted(required - set(data))}, "
                        f"extra {sorted(set(data) - set(fields))}")
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for key, value in data.items():
        tp = cls.__dataclass_fields__[key].type if key in fields else None
        if isinstance(value, dict) and dataclasses.is_dataclass(tp):
            problems += _incomplete_sections(value, tp, f"{prefix}{key}.")
        elif isinstance(value, dict) and key in hints and not prefix:  # [filters.*]: each filter's own table
            nested = getattr(config_class()(), key)
            if dataclasses.is_dataclass(nested):
                problems += _incomplete_sections(value, type(nested), f"{key}.")
    return problems


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_section_a_shipped_config_states_lists_every_key_of_its_dataclass(path):
    """A shipped config is documentation: a section it shows lists every setting of that section, so a
    key added to a dataclass without its line here (or a line left over from a removed key) fails."""
    data = tomllib.loads(path.read_text())
    data.pop("resources", None)  # optional overrides per stage
    data.pop("mix", None)  # entries override only what they name
    if path.name != "pdf.toml":  # the other examples set only what makes them that source's build
        data.pop("run", None)
    assert _incomplete_sections(data, config_class()) == []


def test_the_pdf_example_shows_every_section_but_the_other_sources():
    data = tomllib.loads((Path(__file__).resolve().parents[2] / "configs" / "pdf.toml").read_text())
    shown = set(data) | {f"filters.{k}" for k in data.get("filters", {})}
    expected = {f.name for f in dataclasses.fields(config_class())} - {"chart", "web", "dataset", "mix", "resources"}
    expected = (expected - {"filters"}) | {f"filters.{f.name}" for f in dataclasses.fields(config_class()().filters)}
    assert expected <= shown


def test_pdf_example_states_the_defaults():
    assert load(Path(__file__).resolve().parents[2] / "configs" / "pdf.toml") == config_class()()


def test_chart_example_states_the_chart_defaults():
    cfg = load(Path(__file__).resolve().parents[2] / "configs" / "chart.toml")
    assert cfg.chart == config_class()().chart and cfg.run.source == "chart"
