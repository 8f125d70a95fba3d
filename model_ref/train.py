"""Train the reference model in the report's three stages, straight from vlforge shards.

    python -m model_ref.train --data out/pdf [--data out/chart ...] --stage {1,2,3,all} --steps N --out ckpt/

Stage 1 warms up the adaptor on image-text pairs (vision and LM frozen); stage 2 trains LM and
adaptor on text-only and multimodal steps mixed 7:3 after a modality warm-up, 43.7% of the
multimodal steps being interleaved documents (several images in one sequence) when the data has
them (the report's 13.1% of the mix); stage 3 fine-tunes LM,
adaptor and the low-resolution branch on `messages` with the loss on the answers. `--steps` is per
stage. The run writes `OUT/checkpoint/` (safetensors weights and optimizer state, config,
tokenizer), `OUT/metrics.jsonl` (one line per step) and `OUT/loss.png`. Kill it at any moment and
rerun the same command: it resumes at the checkpoint's step and repeats exactly the steps an
uninterrupted run takes (each step's batch depends only on seed, stage and step number).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from model_ref.checkpoint import (
    DIR,
    OLD,
    TMP,
    find_checkpoint,
    load_model_weights,
    load_optimizer,
    load_pretrained,
    load_state,
    save_checkpoint,
)
from model_ref.config import ModelConfig, preset
from model_ref.data.loader import SampleMaker, StagePools, StepBatches, eval_batches, make_loader
from model_ref.data.sequences import DEFAULT_MAX_IMAGES, SequenceBuilder
from model_ref.data.shards import ShardIndex, build_index, iter_texts
from model_ref.metrics import FILE as METRICS_FILE
from model_ref.metrics import PLOT, MetricsLog, plot_losses
from model_ref.model import VLModel, build_model, count_params, next_token_loss
from model_ref.schedule.lr import lr_at
from model_ref.schedule.stages import STAGES, Stage, apply_stage
from model_ref.threads import within_thread_limit
from model_ref.tokenizer import TextTokenizer

console = Console(stderr=True)


def say(message: str) -> None:
    """One line of progress news on stderr, unwrapped and unstyled (it names paths and numbers)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model_ref.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", required=True, type=Path,
                   help="a vlforge output folder (its shards/*.parquet), a folder of Parquet files or one file; "
                        "repeatable")
    p.add_argument("--stage", default="all", choices=["1", "2", "3", "all"])
    p.add_argument("--steps", type=int, default=200, help="optimizer steps per stage (default 200)")
    p.add_argument("--out", type=Path, default=Path("ckpt"))
    p.add_argument("--config", default="tiny",
                   help="a named model config (tiny, deepseek-vl-1.3b, deepseek-vl-7b) or a config.json")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate for every stage (default: the config's)")
    p.add_argument("--language-share", type=float, default=None,
                   help="stage 2's share of text-only steps (default 0.7, the report's 7:3)")
    p.add_argument("--modality-warmup", type=float, default=None,
                   help="share of stage 2 over which the language share falls from 1.0 to its target (default 0.2)")
    p.add_argument("--interleaved-share", type=float, default=None,
                   help="share of stage 2's multimodal steps drawn from interleaved documents (default "
                        f"{STAGES[2].interleaved_share}: the report's 13.1%% of the mix over its 30%% multimodal; "
                        "0 when the data has no documents with images)")
    p.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES,
                   help="images per interleaved sequence at most (the sequence is cut before the next one; "
                        f"default {DEFAULT_MAX_IMAGES})")
    p.add_argument("--vocab-size", type=int, default=4096, help="tokenizer size when it is trained here")
    p.add_argument("--tokenizer", type=Path, default=None, help="use this tokenizer.json instead of training one")
    p.add_argument("--init", type=Path, default=None,
                   help="start from a model_ref checkpoint's weights, config and tokenizer (e.g. an earlier stage)")
    p.add_argument("--init-vision", type=Path, default=None,
                   help="pretrained vision encoder weights (safetensors or state-dict file, or a checkpoint folder)")
    p.add_argument("--init-lm", type=Path, default=None, help="pretrained language model weights, likewise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=50, help="held-out loss every N steps and at each stage's end")
    p.add_argument("--eval-batches", type=int, default=4, help="held-out batches per modality")
    p.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps and at each stage's end")
    p.add_argument("--workers", type=int, default=None,
                   help="loader processes preparing batches ahead of the model (default: half the CPUs, 1..4)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--fresh", action="store_true", help="discard what --out holds and start over")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "eval_every", "save_every", "max_images"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.language_share is not None and not 0.0 <= args.language_share <= 1.0:
        p.error("--language-share must be between 0 and 1")
    if args.interleaved_share is not None and not 0.0 <= args.interleaved_share <= 1.0:
        p.error("--interleaved-share must be between 0 and 1")
    return args


@dataclass
class Run:
    """Everything a stage needs, prepared once per invocation."""

    args: argparse.Namespace
    out: Path
    stages: list[int]
    settings: dict[str, Any]
    device: torch.device
    index: ShardIndex
    tokenizer: TextTokenizer
    cfg: ModelConfig
    model: VLModel
    builder: SequenceBuilder
    resume: dict[str, Any] | None  # the checkpoint's state.json when resuming
    resume_dir: Path | None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with within_thread_limit():  # more threads than OMP_THREAD_LIMIT allows corrupt gradients
            run = prepare(args)
            train(run)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # a non-finite loss or gradient: train_step refused the step
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: rerun the same command to resume from the last checkpoint in {args.out}",
              file=sys.stderr)
        return 130
    return 0


def settings_of(args: argparse.Namespace, stages: list[int]) -> dict[str, Any]:
    """The settings that decide what the run computes; a resume must match them exactly."""
    return {
        "data": [str(Path(d).resolve()) for d in args.data], "stages": stages, "steps": args.steps,
        "config": args.config, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "language_share": args.language_share, "modality_warmup": args.modality_warmup,
        "interleaved_share": args.interleaved_share, "max_images": args.max_images,
        "vocab_size": args.vocab_size,
        **{k: str(Path(v).resolve()) if v else None for k, v in
           (("tokenizer", args.tokenizer), ("init", args.init), ("init_vision", args.init_vision),
            ("init_lm", args.init_lm))},
    }


def pick_device(name: str) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is visible")
    return device


def prepare(args: argparse.Namespace) -> Run:
    """Index the shards, find or make the tokenizer and model, and decide where training starts."""
    out = args.out
    stages = [1, 2, 3] if args.stage == "all" else [int(args.stage)]
    settings = settings_of(args, stages)
    if args.fresh:
        for name in (DIR, TMP, OLD):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in (METRICS_FILE, PLOT):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = find_checkpoint(out)
    state = load_state(ckpt) if ckpt else None
    # A checkpoint written before a setting existed ran with that setting's default.
    saved = {**_SETTINGS_BEFORE, **state["settings"]} if state is not None else None
    if saved is not None and saved != settings:
        diff = [k for k in settings if settings[k] != saved.get(k)]
        raise ValueError(f"{out} holds a run with other settings ({', '.join(diff)}); rerun the same command to "
                         "resume it, add --fresh to start over, or use another --out (--init OUT/checkpoint starts "
                         "from its weights)")
    device = pick_device(args.device)
    index = build_index(args.data)
    say(f"data: {index.describe()}")
    train_files = [f for f in index.files if f not in index.heldout_files] or index.files
    if ckpt is not None:
        tokenizer, cfg = TextTokenizer.load(ckpt), ModelConfig.load(ckpt / "config.json")
    elif args.init is not None:
        init = _checkpoint_or_fail(args.init)
        tokenizer, cfg = TextTokenizer.load(init), ModelConfig.load(init / "config.json")
    else:
        if args.tokenizer is not None:
            tokenizer = TextTokenizer.load(args.tokenizer)
        else:
            t0 = time.perf_counter()
            tokenizer = TextTokenizer.train(iter_texts(train_files), vocab_size=args.vocab_size)
            say(f"tokenizer: {tokenizer.vocab_size} tokens trained on the shards' text in "
                f"{time.perf_counter() - t0:.1f}s")
        base = ModelConfig.load(Path(args.config)) if args.config.endswith(".json") else preset(args.config)
        cfg = base.with_vocab(tokenizer.vocab_size)
    model = build_model(cfg, "cpu", seed=args.seed)
    if ckpt is not None:
        load_model_weights(model, ckpt)
    else:
        if args.init is not None:
            load_model_weights(model, _checkpoint_or_fail(args.init))
        if args.init_vision is not None:
            n = load_pretrained(model.vision, args.init_vision, prefix="vision.")
            say(f"vision encoder: {n} tensors from {args.init_vision}")
        if args.init_lm is not None:
            n = load_pretrained(model.lm, args.init_lm, prefix="lm.")
            say(f"language model: {n} tensors from {args.init_lm}")
    model.to(device)
    builder = SequenceBuilder(tokenizer, cfg.image_tokens, cfg.lm.max_seq_len, args.max_images)
    for number in stages:  # fail on missing data before any step runs; say what each mix falls back to
        pools = StagePools.for_stage(STAGES[number], index.train, *_mix(args, STAGES[number]))
        if pools.note:
            say(pools.note)
    say(f"model {cfg.name}: {count_params(model) / 1e6:.2f}M parameters (vision "
        f"{count_params(model.vision) / 1e6:.2f}M, LM {count_params(model.lm) / 1e6:.2f}M), "
        f"{cfg.image_tokens} visual tokens per image; device {device}"
        f"{' (bf16 autocast)' if device.type == 'cuda' else ''}")
    return Run(args, out, stages, settings, device, index, tokenizer, cfg, model, builder, state, ckpt)


def _checkpoint_or_fail(path: Path) -> Path:
    ckpt = find_checkpoint(path)
    if ckpt is None:
        raise FileNotFoundError(f"no model_ref checkpoint at {path}")
    return ckpt


def _mix(args: argparse.Namespace, stage: Stage) -> tuple[float | None, float | None]:
    """The command line's language and interleaved shares for the stage (they override stage 2's mix only)."""
    if stage.number != 2:
        return None, None
    return args.language_share, args.interleaved_share


# Settings added after checkpoints were first written, at the values those runs used.
_SETTINGS_BEFORE = {"interleaved_share": None, "max_images": DEFAULT_MAX_IMAGES}


def train(run: Run) -> None:
    """Every stage of the run in order, from the checkpoint's position when resuming."""
    state = run.resume or {}
    done_global = state.get("global_step", 0)
    if run.resume:
        say(f"resuming {run.out}: stage {state['stage']} after step {state['step']} "
            f"(global step {done_global})")
    log = MetricsLog(run.out, keep_until=done_global if run.resume else None)
    try:
        for i, number in enumerate(run.stages):
            start = 0
            if run.resume:
                position = run.stages.index(state["stage"])
                if i < position or (i == position and state["step"] >= run.args.steps):
                    continue
                start = state["step"] if i == position else 0
            train_stage(run, STAGES[number], i, start, log)
    finally:
        log.close()
    plot = plot_losses(run.out)
    say(f"done: {run.out / DIR}, {run.out / METRICS_FILE}, {plot}")


def default_workers(workers: int | None) -> int:
    """Loader processes: as asked, else half the CPUs (1 to 4), leaving the rest to the model's threads."""
    return workers if workers is not None else min(4, max(1, (os.cpu_count() or 2) // 2))


def stage_batches(run: Run, stage: Stage) -> StepBatches:
    """The stage's batches by step number (its pools, mix and sequence format)."""
    pools = StagePools.for_stage(stage, run.index.train, *_mix(run.args, stage))  # prepare() said its notes
    maker = SampleMaker(stage.sequence, run.index.files, run.builder, run.cfg.image_size)
    return StepBatches(stage, run.args.steps, pools, maker, run.args.batch_size, run.args.seed,
                       modality_warmup=run.args.modality_warmup if stage.number == 2 else None)


def train_stage(run: Run, stage: Stage, position: int, start: int, log: MetricsLog) -> None:
    """Steps `start`..steps-1 of one stage: freeze per the stage, AdamW over what it trains, log every
    step, evaluate and checkpoint on schedule."""
    args, model, device = run.args, run.model, run.device
    steps = args.steps
    trained = apply_stage(model, stage)
    peak = args.lr if args.lr is not None else run.cfg.stage_lr[stage.number - 1]
    optimizer = torch.optim.AdamW(trained, lr=peak, betas=(0.9, 0.95), weight_decay=0.0, eps=1e-8)
    if start > 0:
        load_optimizer(optimizer, run.resume_dir, device)
    batches = stage_batches(run, stage)
    pools = batches.pools
    heldout = eval_batches(stage, run.index.heldout, batches.maker, args.batch_size, args.eval_batches)
    if not heldout:
        say(f"stage {stage.number}: no held-out rows for this stage, so no eval loss")
    loader = make_loader(batches, start, default_workers(args.workers), pin_memory=device.type == "cuda")
    say(f"stage {stage.number} ({stage.name}): trains {', '.join(stage.trains)} "
        f"({count_params(model, trainable_only=True) / 1e6:.2f}M parameters), peak lr {peak:g}, "
        f"language share {pools.language_share:.2f}"
        f"{f', interleaved {pools.interleaved_share:.3f} of multimodal steps' if pools.interleaved is not None else ''}"
        f", steps {start + 1}..{steps}")
    columns = [TextColumn("stage {task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}"),
               TextColumn("{task.fields[rate]} samples/s"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=steps, completed=start, stage=stage.number, loss="-", lr="-",
                                 rate="-")
        t_prev = time.perf_counter()
        row: dict[str, Any] = {}
        for batch in loader:
            step = int(batch["step"])
            lr = lr_at(stage, step, steps, peak)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, grad_norm = train_step(model, optimizer, trained, batch, device,
                                         step=f"stage {stage.number} step {step + 1}")
            now = time.perf_counter()
            done = step + 1
            row = {"stage": stage.number, "step": done, "global_step": position * steps + done, "loss": loss,
                   "lr": lr, "grad_norm": grad_norm, "modality": batch["modality"], "samples": batch["samples"],
                   "tokens": batch["tokens"], "step_s": round(now - t_prev, 4),
                   "samples_per_s": round(batch["samples"] / max(now - t_prev, 1e-9), 2)}
            if heldout and (done % args.eval_every == 0 or done == steps):
                row.update(evaluate(model, heldout, device))
            log.write(row)
            progress.update(task, completed=done, loss=f"{loss:.3f}", lr=f"{lr:.2e}",
                            rate=f"{row['samples_per_s']:.1f}")
            if done % args.save_every == 0 or done == steps:
                save_checkpoint(run.out, model, optimizer,
                                {"stage": stage.number, "step": done, "global_step": row["global_step"],
                                 "settings": run.settings}, run.cfg, run.tokenizer)
            t_prev = time.perf_counter()
    if "eval_loss" in row:
        say(f"stage {stage.number}: train loss {row['loss']:.3f}, held-out loss {row['eval_loss']:.3f}")


def _autocast(device: torch.device):
    """bf16 autocast on CUDA (untested here: no GPU in CI); plain float32 on the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _to(batch: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    images = batch["images"]
    return (batch["input_ids"].to(device, non_blocking=True),
            images.to(device, non_blocking=True) if images is not None else None,
            batch["labels"].to(device, non_blocking=True))


def train_step(model: VLModel, optimizer: torch.optim.Optimizer, trained: list[torch.nn.Parameter],
               batch: dict[str, Any], device: torch.device, step: int | str | None = None) -> tuple[float, float]:
    """One optimizer step on one batch: (loss, gradient norm before clipping to 1.0).

    A non-finite loss (or gradient norm) raises FloatingPointError before the optimizer steps, with
    the gradients zeroed, so the weights and optimizer state stay as they were; `step` (a number or
    a label such as "stage 2 step 5") names the step in the message."""
    input_ids, images, labels = _to(batch, device)
    with _autocast(device):
        _, loss = model(input_ids, images, labels)
    value = float(loss.detach())
    if not math.isfinite(value):
        optimizer.zero_grad(set_to_none=True)
        raise FloatingPointError(_diverged(step, f"the loss is {value}", optimizer))
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(trained, 1.0))
    if not math.isfinite(grad_norm):
        optimizer.zero_grad(set_to_none=True)
        raise FloatingPointError(_diverged(step, f"the gradient norm is {grad_norm} (loss {value:.4g})", optimizer))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return value, grad_norm


def _diverged(step: int | str | None, what: str, optimizer: torch.optim.Optimizer) -> str:
    """One line: where training diverged, what was non-finite, and what to do about it."""
    where = "" if step is None else (f"step {step}: " if isinstance(step, int) else f"{step}: ")
    lr = optimizer.param_groups[0]["lr"] if optimizer.param_groups else None
    now = f" (the lr at this step was {lr:g})" if isinstance(lr, float) else ""
    return (f"{where}{what}; the step was not taken and the weights are unchanged. Training diverged: "
            f"lower --lr{now} and rerun with --fresh or another --out")


@torch.no_grad()
def evaluate(model: VLModel, batches: list[dict[str, Any]], device: torch.device) -> dict[str, float]:
    """Mean next-token loss per labelled token on the held-out batches, overall and per modality."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for batch in batches:
        input_ids, images, labels = _to(batch, device)
        with _autocast(device):
            logits, _ = model(input_ids, images)
        total = float(next_token_loss(logits, labels, reduction="sum"))
        for key in ("eval_loss", f"eval_loss_{batch['modality']}"):
            sums[key] = sums.get(key, 0.0) + total
            counts[key] = counts.get(key, 0) + batch["tokens"]
    return {k: round(sums[k] / counts[k], 6) for k in sums if counts[k]}


if __name__ == "__main__":
    sys.exit(main())
