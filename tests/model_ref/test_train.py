"""The reference trainer on real torch with a tiny model: loss falls, stages freeze what they must,
the language/multimodal mix holds, a killed run resumes to the same losses, generation answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from model_ref import train as trainer
from model_ref.checkpoint import find_checkpoint, load_pretrained
from model_ref.config import PRESETS
from model_ref.data.loader import StagePools, StepBatches
from model_ref.data.mixer import ModalitySchedule
from model_ref.generate import Generator
from model_ref.metrics import MetricsLog, read_metrics
from model_ref.model import build_model, count_params
from model_ref.schedule.stages import STAGES, is_trained

REPO = Path(__file__).resolve().parents[2]
FAST = ["--batch-size", "4", "--workers", "0", "--eval-batches", "2"]


def run_cli(*argv: str) -> int:
    return trainer.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def stage2_run(shards, tmp_path_factory) -> Path:
    """30 steps of stage 2 (LM and adaptor, text-only and image-text steps mixed 7:3)."""
    out = tmp_path_factory.mktemp("stage2")
    assert run_cli("--data", shards, "--stage", "2", "--steps", 30, "--out", out, "--eval-every", 10,
                   "--save-every", 10, *FAST) == 0
    return out


def test_named_configs_build_on_meta_with_the_reports_shapes():
    sizes = {}
    for name, cfg in PRESETS.items():
        model = build_model(cfg, device="meta")
        sizes[name] = count_params(model) / 1e9
        images = torch.zeros(1, 3, cfg.image_size, cfg.image_size, device="meta")
        semantic, detail = model.vision(images)
        visual = model.adaptor(semantic, detail)
        assert visual.shape == (1, cfg.image_tokens, cfg.lm.d_model)
        if detail is not None:
            assert detail.shape[1] == semantic.shape[1] == cfg.image_tokens
    assert PRESETS["deepseek-vl-7b"].image_tokens == 576 and PRESETS["deepseek-vl-7b"].detail.image_size == 1024
    assert PRESETS["deepseek-vl-1.3b"].detail is None  # SigLIP alone
    assert 7.0 < sizes["deepseek-vl-7b"] < 7.6 and 1.5 < sizes["deepseek-vl-1.3b"] < 2.2 and sizes["tiny"] < 0.01


def test_stage2_loss_falls_and_the_run_leaves_metrics_checkpoint_and_plot(stage2_run):
    rows = read_metrics(stage2_run)
    assert [r["step"] for r in rows] == list(range(1, 31)) and {r["stage"] for r in rows} == {2}
    for r in rows:
        assert {"loss", "lr", "grad_norm", "modality", "tokens", "samples_per_s"} <= set(r)
    losses = [r["loss"] for r in rows]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0, losses
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r]
    assert len(evals) == 3 and evals[-1] < evals[0] - 1.0, evals
    ckpt = find_checkpoint(stage2_run)
    assert ckpt is not None
    assert {p.name for p in ckpt.iterdir()} >= {"model.safetensors", "optimizer.safetensors", "state.json",
                                                 "config.json", "tokenizer.json"}
    assert (stage2_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_each_stage_trains_only_its_parts_and_leaves_frozen_weights_untouched(shards, tmp_path):
    args = trainer.parse_args(["--data", str(shards), "--stage", "all", "--steps", "3", "--out", str(tmp_path),
                               *FAST])
    run = trainer.prepare(args)
    log = MetricsLog(tmp_path)
    for position, number in enumerate((1, 2, 3)):
        stage = STAGES[number]
        before = _snapshot(run.model)
        trainer.train_stage(run, stage, position, 0, log)
        changed = {n for n, p in run.model.named_parameters() if not torch.equal(p.detach(), before[n])}
        grads = {n for n, p in run.model.named_parameters() if p.requires_grad}
        trained = {n for n in before if is_trained(n, stage)}
        assert grads == trained, number
        assert changed <= trained, f"stage {number} changed frozen weights: {sorted(changed - trained)[:5]}"
        assert len(changed) >= 0.9 * len(trained), f"stage {number}: only {len(changed)} of {len(trained)} moved"
    log.close()
    # The parts as the report names them: 1 adaptor; 2 LM + adaptor; 3 LM + adaptor + low-res branch.
    assert STAGES[1].trains == ("adaptor",)
    assert set(STAGES[2].trains) == {"adaptor", "lm"}
    assert set(STAGES[3].trains) == {"adaptor", "lm", "vision.semantic"}
    assert not any(is_trained(n, STAGES[3]) for n in before if n.startswith("vision.detail"))


def test_the_mix_is_7_to_3_after_a_modality_warm_up_and_batches_follow_it(shards, stage2_run):
    schedule = ModalitySchedule(1000, 0.7, 200)
    is_language, _ = schedule.plan()
    assert is_language[:20].all()  # language first, as the report's warm-up begins at 1.0
    assert is_language[:100].mean() > 0.9 > is_language[100:200].mean() > 0.7
    for start in range(200, 1000, 100):  # every stretch after the warm-up holds 70% to within one step
        assert abs(is_language[start:start + 100].sum() - 70) <= 1
    # The run logged the plan's modalities, and language batches are text-only.
    rows = read_metrics(stage2_run)
    plan, _ = ModalitySchedule(30, 0.7, round(0.2 * 30)).plan()
    assert [r["modality"] for r in rows] == ["language" if x else "multimodal" for x in plan]
    run = trainer.prepare(trainer.parse_args(["--data", str(shards), "--stage", "2", "--steps", "40",
                                              "--out", str(stage2_run.parent / "mix"), "--language-share", "0.5",
                                              *FAST]))
    stage = STAGES[2]
    batches = StepBatches(stage, 40, StagePools.for_stage(stage, run.index.train, 0.5),
                          trainer.SampleMaker(stage.sequence, run.index.files, run.builder, run.cfg.image_size),
                          4, 0, modality_warmup=0.0)
    kinds = [batches.modality(i) for i in range(40)]
    assert kinds.count("language") == 20
    for i in (0, 1):
        batch = batches[i]
        assert (batch["images"] is None) == (batch["modality"] == "language")


def test_a_killed_run_resumes_at_its_checkpoint_with_the_same_losses(shards, tmp_path):
    common = ["--data", shards, "--stage", "all", "--steps", 8, "--save-every", 3, "--eval-every", 100,
              "--batch-size", "4", "--eval-batches", "1"]
    reference = tmp_path / "reference"
    assert run_cli(*common, "--out", reference, "--workers", "0") == 0
    expected = {r["global_step"]: r["loss"] for r in read_metrics(reference)}
    assert sorted(expected) == list(range(1, 25))

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "model_ref.train", *map(str, common), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_metrics(out)) < 13 and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    logged = len(read_metrics(out))
    assert 13 <= logged < 24, f"the kill came at step {logged}"
    resumed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    saved = [stage * 8 + step for stage in range(3) for step in (3, 6, 8)]  # every 3 steps and at each stage's end
    at = int(resumed.stderr.split("(global step ")[1].split(")")[0])
    assert at in saved and logged - 3 <= at <= logged, (at, logged)
    rows = read_metrics(out)
    assert [r["global_step"] for r in rows] == list(range(1, 25))  # each step once: the torn tail was cut
    for r in rows:
        assert abs(r["loss"] - expected[r["global_step"]]) < 1e-5, (r, expected[r["global_step"]])


def test_pretrained_vision_and_lm_weights_load_from_a_local_file(stage2_run, shards, tmp_path):
    donor = build_model(Generator(stage2_run).cfg, seed=7)
    save_file({f"vision.{k}": v.contiguous() for k, v in donor.vision.state_dict().items()},
              str(tmp_path / "vision.safetensors"))
    torch.save(donor.lm.state_dict(), tmp_path / "lm.pt")
    args = trainer.parse_args(["--data", str(shards), "--stage", "1", "--steps", "1", "--out", str(tmp_path / "o"),
                               "--tokenizer", str(stage2_run / "checkpoint" / "tokenizer.json"),
                               "--init-vision", str(tmp_path / "vision.safetensors"),
                               "--init-lm", str(tmp_path / "lm.pt"), *FAST])
    model = trainer.prepare(args).model
    for part in ("vision", "lm"):
        mine, theirs = getattr(model, part).state_dict(), getattr(donor, part).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    bad = {k: v[..., :1] if v.ndim == 2 else v for k, v in donor.lm.state_dict().items()}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit the lm: wrong shape"):
        load_pretrained(model.lm, tmp_path / "bad.pt", prefix="lm.")


def test_generate_answers_from_a_checkpoint(stage2_run, page_image):
    gen = Generator(stage2_run)
    answer = gen.answer("What does this page say?", page_image, max_new_tokens=12)
    assert isinstance(answer, str) and answer.strip()
    assert gen.answer("Repeat after me: the cat", None, max_new_tokens=4) is not None


@pytest.mark.slow
def test_generate_cli(stage2_run, page_image, tmp_path):
    cli = [sys.executable, "-m", "model_ref.generate", "--ckpt", str(stage2_run)]
    ok = subprocess.run([*cli, "--image", str(page_image), "--prompt", "What colour is this page?",
                         "--max-new-tokens", "8"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr
    missing = subprocess.run([*cli, "--image", str(tmp_path / "nope.png"), "--prompt", "hi"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no image at" in missing.stderr


def test_bad_data_and_changed_settings_stop_with_a_message(shards, stage2_run, tmp_path, capsys):
    assert run_cli("--data", tmp_path, "--stage", "1", "--steps", 1, "--out", tmp_path / "o") == 2
    assert "no Parquet shards" in capsys.readouterr().err
    text_only = tmp_path / "text"
    import pyarrow.parquet as pq

    table = pq.read_table(shards / "shards" / "part-00000.parquet")
    text_only.mkdir()
    pq.write_table(table.filter(table.column("kind").to_numpy(zero_copy_only=False) == "text"),
                   text_only / "part.parquet")
    assert run_cli("--data", text_only, "--stage", "1", "--steps", 1, "--out", tmp_path / "o2") == 2
    assert "needs samples with an image and text" in capsys.readouterr().err
    assert run_cli("--data", shards, "--stage", "2", "--steps", 31, "--out", stage2_run, *FAST) == 2
    assert "other settings (steps)" in capsys.readouterr().err


def test_sft_sequences_carry_loss_on_the_answers_only_and_expand_the_image_placeholder():
    from model_ref.data.sequences import SequenceBuilder
    from model_ref.model import IGNORE
    from model_ref.tokenizer import ASSISTANT_ID, EOS_ID, IMAGE_ID, TextTokenizer

    tok = TextTokenizer.train(["What colour is this page?", "red", "What does it say?", "The red fox."] * 20,
                              vocab_size=300)
    builder = SequenceBuilder(tok, image_tokens=16, max_len=96)
    image = np.zeros((3, 8, 8), dtype=np.uint8)
    messages = [{"role": "user", "content": "<image>\nWhat colour is this page?"},
                {"role": "assistant", "content": "red"},
                {"role": "user", "content": "What does it say?"},
                {"role": "assistant", "content": "The red fox."}]
    ex = builder.sft(messages, image)
    assert ex.ids.count(IMAGE_ID) == 16 and ex.ids.count(ASSISTANT_ID) == 2
    labelled = [t for t in ex.labels if t != IGNORE]
    assert labelled == [*tok.encode("red"), EOS_ID, *tok.encode("The red fox."), EOS_ID]
    # Each labelled token sits where the sequence has it (the loss shifts by one inside the model).
    assert all(label in (IGNORE, token) for token, label in zip(ex.ids, ex.labels, strict=True))
    assert builder.sft(messages[:1], image) is None  # a question nobody answers teaches nothing
    pair = builder.image_text("The red fox.", image)
    assert pair.labels[:17] == [IGNORE] * 17 and pair.ids[1:17] == [IMAGE_ID] * 16
