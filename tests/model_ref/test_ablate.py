"""The data -> model loop: `python -m model_ref.ablate` trains the same small model on each data
variant and says which one makes the better model, with the seed noise shown.

On conftest's learnable shards: answers replaced by random characters in 60% of rows rank below the
clean data for every seed; a copy of the same data comes out level with it; a run killed mid-way
resumes without retraining what finished and gives the uninterrupted results; results.json carries
the by-kind and by-tag tables and ablation.png is drawn. A micro model and one torch thread keep it
to seconds per run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_ref import ablate
from model_ref.config import DetailTowerConfig, LMConfig, ModelConfig, SemanticTowerConfig
from tests.model_ref.conftest import rows, write_shards

REPO = Path(__file__).resolve().parents[2]
STEPS, SEEDS = 16, 3
TAGS = {"page": ["recognition.ocr_transcription", "recognition.grounding"]}  # text rows stay untagged
NOISE = "abcdefghijklmnopqrstuvwxyz0123456789 .,;:#@%"


def tagged(rs: list[dict]) -> list[dict]:
    for r in rs:
        r["tags"] = TAGS.get(r["kind"], [])
    return rs


def noisy(rs: list[dict], share: float = 0.6, seed: int = 0) -> list[dict]:
    """Every answer of `share` of the rows replaced by random characters of the same length."""
    rng = random.Random(seed)
    for r in rs:
        if r.get("messages") and rng.random() < share:
            r["messages"] = [m if m["role"] != "assistant" else
                             {**m, "content": "".join(rng.choice(NOISE) for _ in m["content"])}
                             for m in r["messages"]]
    return rs


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """clean (96 rows), copy (the same shard in another folder), noisy (the clean rows, 60% of their
    answers random), eval (48 other rows), and a micro model config."""
    base = tmp_path_factory.mktemp("ablate")
    clean = write_shards(base / "clean", counts=(0,), extra=lambda part: tagged(rows(0, 96)))
    copy = base / "copy"
    shutil.copytree(clean, copy)
    micro = ModelConfig(
        name="micro", semantic=SemanticTowerConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2),
        detail=DetailTowerConfig(image_size=64, patch_size=8, width=32, depth=1, heads=2, window=4, global_blocks=(0,),
                                 neck_channels=16, downsample_channels=(32, 64)),
        lm=LMConfig(d_model=64, layers=2, heads=2, ffn=176, vocab_size=512, max_seq_len=160),
        stage_lr=(3e-3, 3e-3, 3e-3))
    micro.save(base / "micro.json")
    return {"clean": clean, "copy": copy, "base": base, "micro": base / "micro.json",
            "noisy": write_shards(base / "noisy", counts=(0,), extra=lambda part: noisy(tagged(rows(0, 96)))),
            "eval": write_shards(base / "eval", counts=(0,), extra=lambda part: tagged(rows(7, 48)))}


def common(data: dict[str, Path], out: Path, seeds: int = SEEDS) -> list[str]:
    return ["--eval", str(data["eval"]), "--out", str(out), "--config", str(data["micro"]), "--steps", str(STEPS),
            "--seeds", str(seeds), "--batch-size", "4", "--workers", "0", "--vocab-size", "512", "--threads", "1"]


@pytest.fixture(scope="module")
def ablation(data) -> tuple[dict, str]:
    """Three variants, three seeds each, in this process; (results.json, the tables it printed)."""
    out = data["base"] / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert ablate.main([*common(data, out), *(f"--variant={n}={data[n]}" for n in ("clean", "noisy", "copy"))]) == 0
    return json.loads((out / "results.json").read_text()), stdout.getvalue()


def test_planted_noise_ranks_below_clean_data_for_every_seed(ablation):
    results, table = ablation
    variants = results["variants"]
    clean, noisy_ = variants["clean"]["eval_loss"], variants["noisy"]["eval_loss"]
    assert len(clean["per_seed"]) == len(noisy_["per_seed"]) == SEEDS
    assert all(n > c for n, c in zip(noisy_["per_seed"], clean["per_seed"], strict=True)), (clean, noisy_)
    ranking = results["ranking"]
    assert ranking[-1]["variant"] == "noisy" and ranking[-1]["seeds_behind"] == SEEDS
    assert ranking[-1]["delta"] > 3 * ranking[-1]["delta_std"]
    # The table on stdout: best first, the difference to the best with its spread.
    lines = [line for line in table.splitlines() if "noisy" in line]
    assert lines and f"+{ranking[-1]['delta']:.4f} ± {ranking[-1]['delta_std']:.4f}" in lines[0]
    assert table.index("clean") < table.index("noisy")


def test_the_same_data_comes_out_within_its_seed_spread(ablation):
    variants = ablation[0]["variants"]
    clean, copy = variants["clean"]["eval_loss"], variants["copy"]["eval_loss"]
    assert abs(clean["mean"] - copy["mean"]) <= max(clean["std"], copy["std"])
    # Data order and initial weights depend only on the seed: the same rows give the same runs.
    assert clean["per_seed"] == pytest.approx(copy["per_seed"], abs=1e-5)
    assert clean["std"] > 0  # seeds do differ


def test_results_hold_the_by_kind_and_by_tag_tables_and_the_plot_exists(ablation, data):
    results, table = ablation
    out = data["base"] / "out"
    for name, v in results["variants"].items():
        assert set(v["by_kind"]) == {"page", "text"}, name
        assert set(v["by_tag"]) == {"recognition.ocr_transcription", "recognition.grounding", "(untagged)"}, name
        for group in (*v["by_kind"].values(), *v["by_tag"].values()):
            assert {"mean", "std", "per_seed", "tokens", "rows"} <= set(group) and len(group["per_seed"]) == SEEDS
        assert v["train_samples"] > 0 and v["seconds"] > 0 and v["train_tokens"]["mean"] > 0
    # Noise in every answer category shows in every category.
    noisy_, clean = results["variants"]["noisy"], results["variants"]["clean"]
    assert all(noisy_["by_tag"][t]["mean"] > clean["by_tag"][t]["mean"] for t in clean["by_tag"])
    settings = results["settings"]
    assert settings["steps"] == STEPS and settings["seeds"] == list(range(SEEDS)) and settings["stage"] == 3
    assert "by tag" in table and "recognition.ocr_transcription" in table
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = sorted(p.relative_to(out).as_posix() for p in out.glob("runs/*/seed-*/result.json"))
    assert len(runs) == 3 * SEEDS
    assert not list(out.glob("runs/*/seed-*/train/checkpoint"))  # scored runs keep their metrics, not weights


@pytest.mark.slow
def test_a_killed_ablation_resumes_without_retraining_finished_runs(ablation, data, tmp_path, capsys):
    out = tmp_path / "killed"
    argv = [*common(data, out, seeds=2), "--variant", f"clean={data['clean']}", "--save-every", "4"]
    proc = subprocess.Popen([sys.executable, "-m", "model_ref.ablate", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    first, second = out / "runs/clean/seed-0/result.json", out / "runs/clean/seed-1/train/metrics.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if first.exists() and second.exists() and len(second.read_text().splitlines()) >= 6:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # during seed 1's training, after its checkpoint at step 4
    proc.wait()
    assert first.exists() and not (out / "runs/clean/seed-1/result.json").exists(), "the kill came too late"
    stamp = first.stat().st_mtime_ns
    capsys.readouterr()
    assert ablate.main(argv) == 0  # the same command again
    err = capsys.readouterr().err
    assert "clean seed 0: done already" in err
    assert "resuming" in err  # seed 1 went on from its checkpoint
    assert first.stat().st_mtime_ns == stamp
    results = json.loads((out / "results.json").read_text())
    # The same numbers as the uninterrupted ablation's first two seeds.
    expected = ablation[0]["variants"]["clean"]["eval_loss"]["per_seed"][:2]
    assert results["variants"]["clean"]["eval_loss"]["per_seed"] == pytest.approx(expected, abs=1e-4)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_usage_is_one_line_and_exit_2(data, tmp_path, capsys):
    base = [*common(data, tmp_path / "o", seeds=1)]
    assert ablate.main([*base, "--variant", f"a={tmp_path / 'nowhere'}"]) == 2
    assert "variant a: no such folder" in _error(capsys)
    (tmp_path / "empty").mkdir()
    assert ablate.main([*base, "--variant", f"a={tmp_path / 'empty'}"]) == 2
    assert "no Parquet shards" in _error(capsys)
    assert ablate.main([*base, "--variant", f"a={data['clean']}", "--variant", f"a={data['copy']}"]) == 2
    assert "given twice" in _error(capsys)
    assert ablate.main([*base, "--variant", f"{data['clean']}"]) == 2
    assert "expected NAME=DIR" in _error(capsys)
    # An eval folder whose rows have no answers gives stage 3 nothing to score.
    bare = write_shards(tmp_path / "bare", counts=(0,),
                        extra=lambda part: [r for r in rows(3, 16) if r["kind"] == "text" and not r.get("messages")])
    assert ablate.main([*common(data, tmp_path / "o2", seeds=1)[2:], "--eval", str(bare),
                        "--variant", f"a={data['clean']}"]) == 2
    assert "no rows with answer tokens" in _error(capsys)
    assert not (tmp_path / "o2" / "settings.json").exists()  # nothing kept from a refused start


def test_a_toml_config_holds_the_settings_and_flags_override_it(data, tmp_path, capsys):
    path = tmp_path / "ablation.toml"
    path.write_text(f'model = "{data["micro"]}"\nstage = 3\nsteps = 40\nseeds = 2\neval = "{data["eval"]}"\n'
                    f'out = "{tmp_path / "o"}"\n[variants]\nclean = "{data["clean"]}"\n'
                    f'both = ["{data["clean"]}", "{data["noisy"]}"]\n')
    settings = ablate.parse_args(["--config", str(path), "--steps", "10"])
    assert settings.steps == 10 and settings.seeds == 2 and settings.model == str(data["micro"])
    assert settings.variants == {"clean": [str(data["clean"])], "both": [str(data["clean"]), str(data["noisy"])]}
    path.write_text("step = 3\n")
    assert ablate.main(["--config", str(path)]) == 2
    assert "unknown key 'step'" in _error(capsys)
