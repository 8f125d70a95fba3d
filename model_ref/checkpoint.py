"""Checkpoints on disk: weights and optimizer state in safetensors, the rest in JSON, written atomically.

A checkpoint is a folder that holds everything needed to continue or to use the model:

    model.safetensors      the VL model's state dict
    optimizer.safetensors  AdamW's moments per trained parameter (param groups in the file's metadata)
    state.json             where training stands: stage, step within it, global step, run settings
    config.json            the model shape (model_ref.config.ModelConfig)
    tokenizer.json         the tokenizer the model was trained with

It is written to `checkpoint.tmp/` and renamed into place, the previous one moved aside first, so a
kill at any moment leaves either the old or the new checkpoint whole (`checkpoint.old/` is used
when the kill fell between the two renames).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from model_ref.config import ModelConfig
from model_ref.tokenizer import TextTokenizer

DIR, TMP, OLD = "checkpoint", "checkpoint.tmp", "checkpoint.old"
MODEL, OPTIMIZER, STATE = "model.safetensors", "optimizer.safetensors", "state.json"


def save_checkpoint(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: dict[str, Any],
                    cfg: ModelConfig, tokenizer: TextTokenizer) -> Path:
    """Write the checkpoint folder `out/checkpoint` atomically and return its path."""
    out = Path(out)
    tmp, final, old = out / TMP, out / DIR, out / OLD
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp / MODEL))
    if optimizer is not None:
        tensors, meta = optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / OPTIMIZER), metadata=meta)
    (tmp / STATE).write_text(json.dumps(state, indent=2) + "\n")
    cfg.save(tmp / "config.json")
    tokenizer.save(tmp)
    for f in tmp.iterdir():
        _fsync(f)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    _fsync(out)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(path: Path) -> Path | None:
    """The checkpoint folder at `path`: the folder itself when it holds weights, else its `checkpoint/`
    (or `checkpoint.old/` when a kill fell between the renames); None when there is none."""
    path = Path(path)
    for candidate in (path, path / DIR, path / OLD):
        if (candidate / MODEL).is_file() and (candidate / STATE).is_file():
            return candidate
    return None


def load_state(ckpt: Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / STATE).read_text())


def load_model_weights(model: nn.Module, ckpt: Path) -> None:
    """The checkpoint's weights into `model` (shapes must match exactly)."""
    model.load_state_dict(load_file(str(Path(ckpt) / MODEL)), strict=True)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """AdamW's state dict as flat tensors (`state.<param index>.<name>`) plus JSON metadata for the rest."""
    sd = optimizer.state_dict()
    tensors = {}
    for index, slots in sd["state"].items():
        for name, value in slots.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{index}.{name}"] = t.detach().contiguous().cpu()
    return tensors, {"param_groups": json.dumps(sd["param_groups"])}


def load_optimizer(optimizer: torch.optim.Optimizer, ckpt: Path, device: torch.device) -> None:
    """Restore the optimizer saved by `save_checkpoint` (it must be built over the same parameters)."""
    path = str(Path(ckpt) / OPTIMIZER)
    with safe_open(path, framework="pt") as f:
        groups = json.loads(f.metadata()["param_groups"])
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in load_file(path).items():
        _, index, name = key.split(".", 2)
        # AdamW keeps `step` on the CPU unless capturable/fused; the moments live beside the parameters.
        state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def load_pretrained(module: nn.Module, path: Path, prefix: str = "") -> int:
    """Load weights for one part of the model (the vision encoder, the LM) from a local file a user has.

    `path` is a safetensors file, a PyTorch state-dict file (.pt/.pth/.bin) or a folder holding
    `model.safetensors` (a model_ref checkpoint). Keys may carry the part's prefix inside the whole
    model (`vision.`, `lm.`) or not. Every key of the part must be present with its exact shape; a
    mismatch stops with the keys named. Returns the number of tensors loaded.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path}")
    if path.suffix == ".safetensors":
        weights = load_file(str(path))
    else:
        weights = torch.load(str(path), map_location="cpu", weights_only=True)
    if prefix and any(k.startswith(prefix) for k in weights):
        weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = sorted(k for k in set(own) & set(weights) if tuple(own[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or wrong:
        parts = [f"{len(missing)} missing ({', '.join(missing[:5])})" if missing else "",
                 f"{len(unexpected)} unexpected ({', '.join(unexpected[:5])})" if unexpected else "",
                 "wrong shape: " + ", ".join(f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}"
                                             for k in wrong[:5]) if wrong else ""]
        raise ValueError(f"weights in {path} do not fit the {prefix.rstrip('.') or 'model'}: "
                         + "; ".join(p for p in parts if p))
    module.load_state_dict(weights, strict=True)
    return len(weights)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
