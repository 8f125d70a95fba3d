"""Does this data make a better model? Train the reference model on each data variant, same settings, and compare.

    python -m model_ref.ablate --variant NAME=DIR[,DIR...] [--variant ...] --eval DIR [--stage 1|2|3]
        [--steps N] [--seeds K] [--config tiny|shape.json|ablation.toml] --out DIR

Each (variant, seed) is one run of `model_ref.train` (its loop, mix rules, checkpoints, untouched)
with identical settings: model shape, stage, steps, batch size, learning-rate schedule, tokenizer and
seed list. The seed fixes the initial weights and the data order (each step's batch depends only
on seed, stage and step), so two variants at the same seed differ only in their data, and the
spread over seeds shows how much of a difference is noise. A variant of several folders is mixed
the way the trainer mixes several `--data` folders.

The tokenizer is trained once, on the eval folder's text, and shared by every run: losses per token
are only comparable under one tokenizer, and one made from the eval folder favours no variant and
does not change when a variant is added later (`--tokenizer` uses your own).

Every run is scored on the same eval folder: loss per labelled token (the answers of `messages` in
stage 3), overall, per sample kind and per use-case tag. OUT gets `runs/NAME/seed-K/` (the
training run and its `result.json`, written atomically), `results.json`, `ablation.png`, and a
table on stdout. Kill it and rerun the same command: finished runs are read back, a run cut off
mid-way resumes from its last checkpoint (`--save-every`), and more seeds or variants can be added
to an OUT later.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from model_ref import train as trainer
from model_ref.ablate_report import aggregate, plot_ablation, print_tables
from model_ref.checkpoint import DIR, OLD, TMP
from model_ref.config import ModelConfig, preset
from model_ref.data.loader import StagePools
from model_ref.data.sequences import DEFAULT_MAX_IMAGES, SequenceBuilder
from model_ref.data.shards import build_index, iter_texts, shard_files
from model_ref.evaluate import EvalSet, build_eval_set, evaluate_rows, stage_modalities
from model_ref.metrics import read_metrics
from model_ref.schedule.stages import STAGES
from model_ref.threads import omp_thread_limit, within_thread_limit
from model_ref.tokenizer import TextTokenizer

RESULT, SETTINGS, RESULTS, PLOT, TOKENIZER = "result.json", "settings.json", "results.json", "ablation.png", \
    "tokenizer.json"


class UsageError(ValueError):
    """A bad command line, config file or folder: one line, exit status 2."""


@dataclass
class Settings:
    """What an ablation runs; the TOML file's keys are these names (and a [variants] table)."""

    variants: dict[str, list[str]] = field(default_factory=dict)
    eval: str = ""
    out: str = ""
    model: str = "tiny"  # a named model config or a config.json
    stage: int = 3
    steps: int = 200
    seeds: int = 3
    batch_size: int = 8
    lr: float | None = None  # peak learning rate; default: the model config's for the stage
    eval_rows: int = 500  # rows of the eval folder scored, spread evenly over it (0: all)
    vocab_size: int = 4096
    tokenizer: str | None = None
    save_every: int = 50
    workers: int | None = None
    threads: int | None = None  # torch threads per run (default: torch's; 1 suits ablations run side by side)
    device: str = "auto"
    keep_checkpoints: bool = False
    fresh: bool = False  # discard what OUT holds first

    def check(self) -> None:
        if not self.variants:
            raise UsageError("no variants: give --variant NAME=DIR (repeatable) or a [variants] table")
        if not self.eval:
            raise UsageError("no eval folder: give --eval DIR")
        if not self.out:
            raise UsageError("no output folder: give --out DIR")
        if self.stage not in (1, 2, 3):
            raise UsageError(f"stage must be 1, 2 or 3, got {self.stage}")
        for name in ("steps", "seeds", "batch_size", "save_every", "vocab_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.eval_rows < 0:
            raise UsageError(f"eval_rows must be 0 (all) or more, got {self.eval_rows}")
        for name, dirs in self.variants.items():
            for d in dirs:
                if not Path(d).exists():
                    raise UsageError(f"variant {name}: no such folder {d}")
        if not Path(self.eval).exists():
            raise UsageError(f"eval: no such folder {self.eval}")
        if self.tokenizer and not Path(self.tokenizer).exists():
            raise UsageError(f"tokenizer: no such file {self.tokenizer}")
        if self.model.endswith(".json") and not Path(self.model).is_file():
            raise UsageError(f"model config: no such file {self.model}")

    def fixed(self) -> dict[str, Any]:
        """The settings every run of OUT shares (and the tokenizer's hash, added once it is known); a rerun
        with others would mix runs that cannot be compared."""
        model: Any = self.model
        if self.model.endswith(".json"):
            model = {"file": str(Path(self.model).resolve()), "config": json.loads(Path(self.model).read_text())}
        return {"model": model, "stage": self.stage, "steps": self.steps, "batch_size": self.batch_size,
                "lr": self.lr, "eval": str(Path(self.eval).resolve()), "eval_rows": self.eval_rows,
                "device": trainer.pick_device(self.device).type}


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m model_ref.ablate", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", action="append", metavar="NAME=DIR[,DIR...]",
                   help="a data variant: one vlforge output folder or several mixed (repeatable)")
    p.add_argument("--eval", metavar="DIR", help="the held-out folder every run is scored on")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="a model config (tiny, deepseek-vl-1.3b, a config.json) or an ablation .toml whose keys "
                        "are these flags' names (model, stage, steps, seeds, ..., [variants]); flags override it")
    p.add_argument("--stage", type=int, choices=[1, 2, 3], help="the stage trained (default 3: loss on answers)")
    p.add_argument("--steps", type=int, help="optimizer steps per run (default 200)")
    p.add_argument("--seeds", type=int, help="seeds 0..K-1 per variant (default 3)")
    p.add_argument("--batch-size", type=int, help="samples per step (default 8)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the model config's for the stage)")
    p.add_argument("--eval-rows", type=int, help="eval rows scored, spread evenly over the folder (default 500; 0 all)")
    p.add_argument("--vocab-size", type=int, help="size of the tokenizer trained on the eval folder (default 4096)")
    p.add_argument("--tokenizer", metavar="FILE", help="use this tokenizer.json for every run instead")
    p.add_argument("--save-every", type=int, help="checkpoint every N steps, for resuming a killed run (default 50)")
    p.add_argument("--workers", type=int, help="loader processes per run (default: the trainer's)")
    p.add_argument("--threads", type=int, help="torch CPU threads per run (default: torch's, one per core)")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda ...")
    p.add_argument("--keep-checkpoints", action="store_true", default=None,
                   help="keep each run's checkpoint (default: deleted once the run is scored)")
    p.add_argument("--fresh", action="store_true", default=None, help="discard what OUT holds and start over")
    args = p.parse_args(argv)
    settings = Settings()
    if args.config and args.config.endswith(".toml"):
        settings = load_toml(Path(args.config))
    elif args.config:
        settings.model = args.config
    for f in fields(Settings):
        value = getattr(args, f.name, None)
        if value is not None and f.name != "variants":
            setattr(settings, f.name, value)
    if args.variant:
        settings.variants = parse_variants(args.variant)
    return settings


def parse_variants(specs: list[str]) -> dict[str, list[str]]:
    """`NAME=DIR[,DIR...]` strings as {name: [dirs]}; a repeated name is an error."""
    variants: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, dirs = spec.partition("=")
        name = name.strip()
        folders = [d.strip() for d in dirs.split(",") if d.strip()]
        if not sep or not name or not folders:
            raise UsageError(f"--variant {spec!r}: expected NAME=DIR or NAME=DIR1,DIR2")
        _check_name(name)
        if name in variants:
            raise UsageError(f"variant {name!r} is given twice")
        variants[name] = folders
    return variants


def _check_name(name: str) -> None:
    if name in (".", "..") or not all(c.isalnum() or c in "-_." for c in name):
        raise UsageError(f"variant name {name!r}: use letters, digits, '-', '_' and '.' (it names a folder)")


def load_toml(path: Path) -> Settings:
    """An ablation config file; an unknown key or a value of the wrong type is named in the error."""
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: {e}") from None
    settings = Settings()
    types = {f.name: f.type for f in fields(Settings)}
    for key, value in data.items():
        if key not in types:
            raise UsageError(f"{path}: unknown key {key!r} (known: {', '.join(types)})")
        if key == "variants":
            if not isinstance(value, dict):
                raise UsageError(f"{path}: variants must be a table of NAME = \"DIR\" or [\"DIR\", ...]")
            specs = [f"{k}={v if isinstance(v, str) else ','.join(map(str, v))}" for k, v in value.items()]
            settings.variants = parse_variants(specs)
            continue
        expected = {"int": int, "int | None": int, "float | None": (int, float), "bool": bool}.get(str(types[key]), str)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise UsageError(f"{path}: {key} = {value!r} has the wrong type")
        setattr(settings, key, float(value) if key == "lr" else value)
    return settings


def say(message: str) -> None:
    trainer.say(message)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_args(argv)
        with within_thread_limit() as threads:  # model_ref.threads: more than OMP_THREAD_LIMIT corrupt gradients
            if settings.threads is not None:
                if settings.threads < 1:
                    raise UsageError(f"threads must be at least 1, got {settings.threads}")
                torch.set_num_threads(min(settings.threads, omp_thread_limit() or threads))
            run_ablation(settings)
    except (UsageError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # the trainer's refusals (a stage with no data, a run with other settings)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue; finished runs are kept", file=sys.stderr)
        return 130
    return 0


def run_ablation(settings: Settings) -> dict[str, Any]:
    """Train and score every (variant, seed) not done yet, then write results.json, the table and the plot."""
    settings.check()
    out = Path(settings.out)
    if settings.fresh:
        for name in ("runs", SETTINGS, RESULTS, PLOT, TOKENIZER):  # only what an ablation writes
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    stage = STAGES[settings.stage]
    held = Path(settings.eval).resolve()
    for name, dirs in settings.variants.items():
        if any(Path(d).resolve() == held for d in dirs):
            say(f"warning: variant {name} trains on the eval folder {settings.eval}: its eval loss is not held out")
    offers = {name: _stage_rows(name, dirs, settings.stage) for name, dirs in settings.variants.items()}
    fixed = settings.fixed()
    saved = _saved_settings(out, fixed)
    tokenizer, made = _shared_tokenizer(settings, out)
    cfg = _model_config(settings.model).with_vocab(tokenizer.vocab_size)
    builder = SequenceBuilder(tokenizer, cfg.image_tokens, cfg.lm.max_seq_len, DEFAULT_MAX_IMAGES)
    t0 = time.perf_counter()
    evalset = build_eval_set(Path(settings.eval), stage, builder, cfg.image_size, settings.batch_size,
                             settings.eval_rows)
    if evalset.tokens == 0:
        needs = " or ".join(pool for pool, _ in stage_modalities(stage))
        raise UsageError(f"the eval folder {settings.eval} has no rows with answer tokens for stage "
                         f"{settings.stage} (it needs {needs} rows)")
    if made:  # kept only now that the eval folder is known to be usable
        tmp = out / (TOKENIZER + ".tmp")
        tokenizer.save(tmp)
        os.replace(tmp, out / TOKENIZER)
        say(f"tokenizer: {tokenizer.vocab_size} tokens, shared by every run ({out / TOKENIZER})")
    fixed["tokenizer_sha256"] = _sha256(out / TOKENIZER)
    if saved is None:
        _write_json(out / SETTINGS, fixed)
    elif saved.get("tokenizer_sha256") != fixed["tokenizer_sha256"]:
        raise UsageError(f"{out}/{TOKENIZER} is not the tokenizer its runs used; use --fresh or another --out")
    say(f"eval: {evalset.rows} rows, {evalset.tokens} labelled tokens from {settings.eval} "
        f"({evalset.skipped} rows gave no sequence; {time.perf_counter() - t0:.1f}s)")
    seeds = list(range(settings.seeds))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in settings.variants}
    total, n = len(seeds) * len(settings.variants), 0
    for seed in seeds:  # seed-major: a partial ablation already compares every variant
        for name, dirs in settings.variants.items():
            n += 1
            runs[name].append(one_run(settings, out, name, dirs, seed, fixed, evalset, f"[{n}/{total}]"))
    results = aggregate(runs, offers, {**fixed, "seeds": seeds, "eval_rows_scored": evalset.rows,
                                       "eval_tokens": evalset.tokens, "variants": settings.variants,
                                       "samples_per_run": settings.steps * settings.batch_size})
    _write_json(out / RESULTS, results)
    plot_ablation(results, out / PLOT)
    print_tables(results)
    say(f"wrote {out / RESULTS} and {out / PLOT}")
    return results


def _stage_rows(name: str, dirs: list[str], stage: int) -> int:
    """Training rows the variant offers the stage; fails (before any run) when it offers none."""
    try:
        index = build_index([Path(d) for d in dirs])
    except FileNotFoundError as e:
        raise UsageError(f"variant {name}: {e}") from None
    try:
        pools = StagePools.for_stage(STAGES[stage], index.train)
    except ValueError as e:
        raise UsageError(f"variant {name}: {e}") from None
    return sum(len(p) for p in (pools.multimodal, pools.language, pools.interleaved) if p is not None)


def _shared_tokenizer(settings: Settings, out: Path) -> tuple[TextTokenizer, bool]:
    """(OUT's tokenizer, whether it was made now): made once, from --tokenizer or trained on the eval
    folder's text; the caller saves a new one."""
    path = out / TOKENIZER
    if path.exists():
        return TextTokenizer.load(path), False
    if settings.tokenizer:
        return TextTokenizer.load(Path(settings.tokenizer)), True
    texts = iter_texts([str(f) for f in shard_files(Path(settings.eval))])
    first = next(texts, None)
    if first is None:
        raise UsageError(f"the eval folder {settings.eval} holds no text to train the tokenizer on")
    return TextTokenizer.train(_chain(first, texts), vocab_size=settings.vocab_size), True


def _chain(first: str, rest):
    yield first
    yield from rest


def _model_config(model: str) -> ModelConfig:
    return ModelConfig.load(Path(model)) if model.endswith(".json") else preset(model)


def _saved_settings(out: Path, fixed: dict[str, Any]) -> dict[str, Any] | None:
    """OUT's settings.json (None before the first run); it must agree with `fixed`."""
    path = out / SETTINGS
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    diff = [k for k in fixed if saved.get(k) != fixed[k]]
    if diff:
        raise UsageError(f"{out} holds an ablation with other settings ({', '.join(diff)}); rerun with the same "
                         "ones to continue it, or use --fresh or another --out")
    return saved


def one_run(settings: Settings, out: Path, name: str, dirs: list[str], seed: int, fixed: dict[str, Any],
            evalset: EvalSet, label: str) -> dict[str, Any]:
    """The result of one (variant, seed): read back when it finished before, else trained (or resumed) and scored."""
    folder = out / "runs" / name / f"seed-{seed}"
    data = [str(Path(d).resolve()) for d in dirs]
    done = folder / RESULT
    if done.exists():
        result = json.loads(done.read_text())
        if result["data"] != data:
            raise UsageError(f"{folder} was trained on {', '.join(result['data'])}, not {', '.join(data)}: give this "
                             "variant another name, or use --fresh or another --out")
        say(f"{label} {name} seed {seed}: done already (eval loss {result['eval_loss']:.4f})")
        return result
    say(f"{label} {name} seed {seed}: training on {', '.join(dirs)}")
    argv = [*[a for d in dirs for a in ("--data", d)], "--stage", str(settings.stage), "--steps", str(settings.steps),
            "--out", str(folder / "train"), "--config", settings.model, "--batch-size", str(settings.batch_size),
            "--seed", str(seed), "--tokenizer", str(out / TOKENIZER), "--eval-every", str(settings.steps),
            "--eval-batches", "1", "--save-every", str(settings.save_every), "--device", settings.device]
    if settings.lr is not None:
        argv += ["--lr", repr(settings.lr)]
    if settings.workers is not None:
        argv += ["--workers", str(settings.workers)]
    run = trainer.prepare(trainer.parse_args(argv))
    trainer.train(run)
    t0 = time.perf_counter()
    scores = evaluate_rows(run.model, evalset, run.device)
    eval_s = time.perf_counter() - t0
    steps = read_metrics(folder / "train")
    train_s = sum(r["step_s"] for r in steps)
    result = {"variant": name, "seed": seed, "data": data, **scores.to_json(),
              "train_tokens": sum(r["tokens"] for r in steps), "train_seconds": round(train_s, 2),
              "eval_seconds": round(eval_s, 2), "seconds": round(train_s + eval_s, 2), "settings": fixed}
    _write_json(done, result)
    if not settings.keep_checkpoints:
        for part in (DIR, TMP, OLD):
            shutil.rmtree(folder / "train" / part, ignore_errors=True)
    say(f"{label} {name} seed {seed}: eval loss {scores.eval_loss:.4f} ({train_s:.0f}s training, {eval_s:.0f}s eval)")
    del run
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def _write_json(path: Path, value: Any) -> None:
    """Written to a temporary name, fsynced and renamed: a kill leaves the old file or the new one whole."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(json.dumps(value, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
