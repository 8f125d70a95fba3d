"""`--config configs/mix.toml`: several sources into one dataset by weight; config keys, flags and their checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import build
from pipelines.config import ConfigError, load
from pipelines.mix import share_out
from pipelines.recipes import build_pipeline
from pipelines.shards import read_shards

REPO = Path(__file__).resolve().parents[2]
MIX = REPO / "configs" / "mix.toml"


def test_shares_follow_weights_and_what_a_short_part_lacks_goes_to_the_others():
    assert share_out(40, {"a": 2, "b": 1, "c": 1}, {"a": 100, "b": 100, "c": 100}) == {"a": 20, "b": 10, "c": 10}
    assert share_out(40, {"a": 2, "b": 1, "c": 1}, {"a": 6, "b": 100, "c": 16}) == {"a": 6, "b": 18, "c": 16}
    assert share_out(10, {"a": 1, "b": 1, "c": 1}, {"a": 50, "b": 50, "c": 50}) == {"a": 4, "b": 3, "c": 3}
    assert share_out(99, {"a": 1, "b": 1}, {"a": 3, "b": 4}) == {"a": 3, "b": 4}


def test_the_mix_config_plans_every_source_by_weight():
    cfg = load(MIX)
    units = build_pipeline(cfg).source.plan((), cfg.run.limit)
    items: dict[str, int] = {}
    for u in units:
        items[u.id.partition("|")[0]] = items.get(u.id.partition("|")[0], 0) + u.size
    assert items == {"pdf": 6, "chart": 18, "printed_lines": 16}  # the corpus has 6 pages; the rest is shared
    assert [u.id.partition("|")[0] for u in units[:3]] == ["pdf", "chart", "printed_lines"]  # interleaved


def write(tmp_path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(MIX.read_text() + text)
    return str(path)


@pytest.mark.parametrize(("extra", "message"), [
    ('[[mix.sources]]\nsource = "chart"\nwieght = 2\n', "unknown config key 'mix.sources[3].wieght'"),
    ('[[mix.sources]]\nsource = "pfd"\n', "mix.sources[3].source: unknown source 'pfd'"),
    ('[[mix.sources]]\nsource = "chart"\nweight = 0\n', "mix.sources[3].weight must be above 0"),
    ('[[mix.sources]]\nsource = "chart"\n', "mix entries need distinct names"),
    ('[[mix.sources]]\nsource = "dataset"\ninputs = ["nope.jsonl"]\n',
     "mix.sources[3].inputs: nope.jsonl does not exist"),
    ('[resources.orc]\nnum_cpus = 1\n', "unknown config key 'resources.orc'"),
    ('[resources.tagger]\nbatch_size = "big"\n', "config key 'resources.tagger.batch_size' must be int"),
    ('[ray]\nspill = "/tmp"\n', "unknown config key 'ray.spill'"),
])
def test_an_invalid_mix_config_fails_before_any_work_naming_the_key(tmp_path, capsys, extra, message):
    if extra.startswith("[ray]"):  # a table appears once in a file: this one goes in a file of its own
        (tmp_path / "c.toml").write_text(extra)
        path = str(tmp_path / "c.toml")
    else:
        path = write(tmp_path, extra)
    out = tmp_path / "out"
    assert build.main(["--config", path, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


# The flags that are not one key each: --seed is a start URL (web.seeds) or the first chart seed.
SPECIAL_FLAGS = {"source": "run.source", "seed": "chart.seed", "column": "dataset.columns"}


def test_every_flag_has_its_config_key():
    """Each flag of the CLI sets a key of the config, so a config file can hold any command line."""
    cfg = load(MIX)
    keys = {f.key.replace(".", "__"): f.key for f in build.FLAGS}
    for dest in sorted(set(vars(build.parse_args([]))) - {"config", "print_config"}):  # actions, not settings
        key = keys.get(dest) or SPECIAL_FLAGS.get(dest)
        assert key, f"--{dest} has no config key"
        obj = cfg
        for part in key.split("."):
            assert hasattr(obj, part), f"--{dest} -> {key}"
            obj = getattr(obj, part)


def test_a_flag_named_in_an_error_is_the_one_that_set_the_bad_value(capsys, tmp_path):
    assert build.main(["--max-pages", "0", "--source", "web", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: --max-pages (web.crawl.max_pages must be at least 1, got 0)"


@pytest.mark.usefixtures("ray_session")
def test_a_mix_build_holds_every_source_and_flags_override_the_file(tmp_path):
    out = tmp_path / "out"
    code = build.main(["--config", str(MIX), "--out", str(out), "--limit", "16", "--ocr", "none", "--no-dedup",
                       "--no-report", "--shard-rows", "8"])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["run"]["limit"] == 16 and manifest["config"]["ocr"]["backend"] == "none"
    assert not (out / "report.html").exists()
    assert stats["items"] == 16 and stats["errors"] == 0
    assert set(stats["funnel"]) == {"pdf", "chart", "printed_lines"}
    rows = read_shards(out).to_pylist()
    by_source = {s: sum(1 for r in rows if r["source"] == s) for s in stats["funnel"]}
    assert by_source == stats["kept_by_source"] and all(by_source.values())
    lines = [r for r in rows if r["source"] == "printed_lines"]
    assert all(r["kind"] == "page" and json.loads(r["meta"])["license"] == "CC0-1.0" for r in lines)


def test_mix_rejects_input_flags():
    with pytest.raises(ConfigError, match="--input does not apply to a mix"):
        build_pipeline(load(MIX).replace("run", inputs=("x",)))


def test_resources_per_stage_reach_the_stages(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[resources.ocr]\nconcurrency = 3\nbatch_size = 2\n[resources.tagger]\nnum_cpus = 0.5\n'
                    '[resources.source]\nnum_cpus = 2\n')
    pipeline = build_pipeline(load(path))
    stages = {s.name: s for s in pipeline.stages}
    assert (stages["ocr"].resources.concurrency, stages["ocr"].resources.batch_size) == (3, 2)
    assert not stages["ocr"].resources.actor and stages["tagger"].resources.num_cpus == 0.5  # auto: in the chain
    assert pipeline.source.resources.num_cpus == 2
    actors = {s.name: s for s in build_pipeline(load(path).replace("ocr", policy="all")).stages}
    assert actors["ocr"].resources.actor and actors["ocr"].resources.concurrency == 3  # all: an actor pool
    assert build_pipeline(load(path).replace("ocr", backend="none"))  # a stage the run leaves out is skipped
