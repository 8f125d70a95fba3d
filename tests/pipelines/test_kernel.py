"""The kernel's promises on a real local Ray: setup once per worker process, a filter or stage is one
new file (registered where it is defined), per-stage figures, the circuit breaker, ids that travel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from filters.base import Filter
from pipelines import registry
from pipelines.config import ConfigError, config_class, load
from pipelines.recipes import build_pipeline
from pipelines.runner import Pipeline, RunOptions, StageFailed, run
from pipelines.schema import set_columns
from pipelines.shards import read_shards
from pipelines.stage import Source, Stage, Unit
from sources.pdf import PdfSource

REPO = Path(__file__).resolve().parents[2]


# -- a stage that follows the documented contract: its model exists only after setup() ------------------
class NeedsSetup(Stage):
    """Writes the pid of the worker process that ran it, and fails loudly if it was never set up."""

    name = "needs_setup"
    version = "1"

    def __init__(self):
        self.config = "v1"
        self.model: str | None = None

    def setup(self) -> None:
        self.model = f"loaded in {os.getpid()}"

    def process(self, batch: pa.Table) -> pa.Table:
        if self.model is None:
            raise RuntimeError("process() before setup()")
        return set_columns(batch, meta=[json.dumps({"pid": os.getpid(), "model": self.model})] * batch.num_rows)


class Lines(Source):
    """`units` units of `per_unit` text rows each: enough tasks to reuse worker processes many times."""

    name = "lines"
    version = "1"

    def __init__(self, units: int, per_unit: int = 3):
        self.units, self.per_unit, self.config = units, per_unit, (units, per_unit)

    def plan(self, inputs, limit=None):
        return [Unit(f"lines#{i}", "lines", self.per_unit, {"i": i}) for i in range(self.units)]

    def expand(self, unit):
        for j in range(self.per_unit):
            text = f"Line {j} of unit {unit.params['i']}: the library opens at eight in the morning."
            yield {"id": f"{unit.params['i']}-{j}", "source": self.name, "kind": "text", "uri": "lines",
                   "locator": f"{unit.params['i']}/{j}", "text": text}


def test_setup_runs_once_per_worker_process_however_many_tasks(ray_session, tmp_path):
    result = run(Pipeline(Lines(units=40), [NeedsSetup()]), RunOptions(out=tmp_path / "o", fingerprint="t"))
    rows = read_shards(tmp_path / "o").to_pylist()
    assert len(rows) == 120 and result.stats["errors"] == 0  # every task found its stage set up
    pids = {json.loads(r["meta"])["pid"] for r in rows}
    stage = result.stats["stages"]["needs_setup"]
    assert stage["setups"] == len(pids) and stage["rows_in"] == stage["rows_out"] == 120
    assert result.stats["stages"]["source"]["rows_in"] == 40  # 40 units, in more tasks than processes
    assert all(json.loads(r["meta"])["model"] == f"loaded in {json.loads(r['meta'])['pid']}" for r in rows)


# -- a new filter is one new file: registered from this test module, with its section and score --------
@dataclass(frozen=True)
class ShoutConfig:
    """[filters.shout]: the largest share of upper-case letters kept."""

    max_caps: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.max_caps <= 1:
            raise ConfigError(f"max_caps must be between 0 and 1, got {self.max_caps}", "max_caps")


class ShoutFilter(Filter):
    name = "shout"
    version = "1"
    reads = ("text",)
    kinds = ("text",)

    def __init__(self, config: ShoutConfig = ShoutConfig()):
        self.config = config

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        letters = [c for c in row["text"] or "" if c.isalpha()]
        return {"caps_frac": sum(c.isupper() for c in letters) / max(1, len(letters))}

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        return "shouting" if scores["caps_frac"] > self.config.max_caps else None


@pytest.fixture
def shout_registered():
    registry.register_stage(order=245, section="filters.shout", config=ShoutConfig, scores=("caps_frac",))(ShoutFilter)
    yield
    registry.unregister("stage", "shout")


def test_a_filter_registered_in_its_own_module_gets_a_section_a_score_and_runs_on_ray(
        ray_session, tmp_path, shout_registered):
    data = tmp_path / "texts.jsonl"
    texts = ["The library opens at eight in the morning and closes at ten in the evening.",
             "THE LIBRARY OPENS AT EIGHT IN THE MORNING AND CLOSES AT TEN IN THE EVENING!",
             "Readers may borrow up to twelve books at a time with a valid card, for three weeks."]
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    conf = tmp_path / "c.toml"
    conf.write_text(f'[run]\nsource = "dataset"\ninputs = ["{data}"]\n[dataset]\nkind = "text"\n'
                    '[dataset.columns]\nimage = ""\n[filters.shout]\nmax_caps = 0.4\n[ocr]\nbackend = "none"\n')
    cfg = load(conf)
    assert cfg.filters.shout == ShoutConfig(max_caps=0.4)
    with pytest.raises(ConfigError, match=r"filters\.shout\.max_caps must be between 0 and 1"):
        cfg.replace("filters.shout", max_caps=2.0).validate()
    pipeline = build_pipeline(cfg)
    names = [s.name for s in pipeline.stages]
    assert names.index("shout") == names.index("text_filter") + 1
    result = run(pipeline, RunOptions.from_config(cfg, out=tmp_path / "o"))
    kept, rejected = read_shards(tmp_path / "o").to_pylist(), read_shards(tmp_path / "o", "rejects").to_pylist()
    assert [r["drop_reason"] for r in rejected] == ["shout:shouting"] and len(kept) == 2
    assert all(r["quality"]["caps_frac"] < 0.1 for r in kept) and rejected[0]["quality"]["caps_frac"] > 0.9
    assert result.stats["stages"]["shout"]["dropped"] == 1


# -- per-stage figures --------------------------------------------------------------------------------
def test_stats_count_every_stage_and_the_rows_flow_from_one_to_the_next(ray_session, tmp_path, corpus):
    cfg = config_class()().replace("run", inputs=(str(corpus),)).replace("ocr", backend="none")
    result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "o"))
    stages = json.loads((tmp_path / "o" / "stats.json").read_text())["stages"]
    order = ["source", "pii", "image_filter", "lang_filter", "document_filter", "text_filter", "agreement",
             "quality_filter", "dedup", "tagger", "grounding", "instructions"]
    assert list(result.stats["stages"]) == order and set(stages) == set(order)
    assert stages["source"]["rows_in"] == result.units_total and stages["source"]["errors"] == 0
    for before, after in zip(order, order[1:], strict=False):
        assert stages[before]["rows_out"] == stages[after]["rows_in"], (before, after)
    for name, c in stages.items():
        if name != "source":  # the source's rows_in counts units
            assert c["rows_in"] - c["dropped"] - c["errors"] == c["rows_out"], name
        # A worker process that set a stage up in an earlier run of this Ray instance reuses it: 0 here.
        assert 0 <= c["setups"] <= max(1, c["rows_in"]) and c["seconds"] >= 0, name
    assert stages["instructions"]["rows_out"] == result.stats["kept"]
    assert sum(c["dropped"] for c in stages.values()) == result.stats["dropped"]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["stages"][0] == f"source pdf/{PdfSource.version}"
    assert manifest["input_roots"] == [str(corpus.resolve())]


# -- the circuit breaker -------------------------------------------------------------------------------
class FailsEverywhere(Stage):
    """A broken stage (not registered: importing tests/pipelines/broken_plugin.py would register its twin
    for every later build of this process)."""

    name = "fails_everywhere"
    version = "1"

    def process(self, batch: pa.Table) -> pa.Table:
        raise RuntimeError("this stage is broken")


def test_a_stage_failing_on_every_row_fails_the_run_with_its_name(ray_session, tmp_path):
    with pytest.raises(StageFailed, match="fails_everywhere failed on 6 of its 6 rows"):
        run(Pipeline(Lines(units=2), [FailsEverywhere()]), RunOptions(out=tmp_path / "o", fingerprint="t"))
    errors = read_shards(tmp_path / "o", "shards")  # the run still finished its output
    assert errors.num_rows == 0 and (tmp_path / "o" / "errors.parquet").exists()


@pytest.mark.slow
def test_the_cli_exits_non_zero_naming_a_plugin_stage_that_fails_everywhere(tmp_path):
    env = {**os.environ, "VLFORGE_PLUGINS": "tests.pipelines.broken_plugin", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pipelines.build", "--ocr", "none", "--no-report", "--no-figures",
                           "--out", str(tmp_path / "o")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "error: always_fails failed on" in proc.stderr and "max_error_share" in proc.stderr


# -- ids that travel ----------------------------------------------------------------------------------
def test_the_same_files_in_another_folder_give_the_same_ids_and_uris(tmp_path, corpus):
    elsewhere = tmp_path / "deep" / "copy"
    shutil.copytree(corpus, elsewhere)

    def samples(folder):
        src = PdfSource()
        return {(r["id"], r["uri"], r["locator"]) for u in src.plan([str(folder)]) for r in src.expand(u)}

    here, there = samples(corpus), samples(elsewhere)
    assert here == there and len(here) > 10
    assert {uri for _, uri, _ in here} == {p.name for p in corpus.glob("*.pdf")}  # relative, never file://


def test_a_unit_without_a_locator_in_its_id_reports_unit():
    assert Unit("a.pdf#pages=0-8", "a.pdf", 8).locator == "pages=0-8"
    assert Unit("chart-range", "chart", 1).locator == "unit"
    assert Unit("a.pdf#", "a.pdf", 1).locator == "unit"


# -- one config path ----------------------------------------------------------------------------------
def test_every_range_check_names_its_key_and_runs_on_load(tmp_path):
    bad = tmp_path / "b.toml"
    for text, key in [("[pdf]\ndpi = 5\n", "pdf.dpi"), ("[dedup]\ntext_threshold = 2.0\n", "dedup.text_threshold"),
                      ("[resources.ocr]\nconcurrency = 0\n", "resources.ocr.concurrency"),
                      ("[resources.nosuch]\nnum_cpus = 1\n", "resources.nosuch"),
                      ("[run]\nmax_error_share = 0\n", "run.max_error_share"),
                      ("[ocr]\nbackend = \"easyocr\"\n", "ocr.backend")]:
        bad.write_text(text)
        with pytest.raises(ConfigError) as e:
            load(bad)
        assert e.value.key == key and key in str(e.value)


def test_concurrency_of_a_task_stage_gives_it_its_own_operator(tmp_path):
    from pipelines.runner import _segments

    cfg = config_class()().replace("ocr", backend="none")
    pipeline = build_pipeline(cfg)
    tagger = next(s for s in pipeline.stages if s.name == "tagger")
    assert not any(s is tagger for s in _segments(pipeline.stages))  # in a chain with its neighbours
    path = tmp_path / "c.toml"
    path.write_text('[ocr]\nbackend = "none"\n[resources.tagger]\nconcurrency = 1\n')
    pipeline = build_pipeline(load(path))
    tagger = next(s for s in pipeline.stages if s.name == "tagger")
    assert tagger.resources.concurrency == 1 and any(s is tagger for s in _segments(pipeline.stages))
