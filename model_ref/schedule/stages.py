"""The report's three training stages: what each one trains, freezes and reads.

| stage | trains | frozen | data |
|---|---|---|---|
| 1 adaptor warm-up | adaptor | both vision branches, LM | image-text pairs |
| 2 joint VL pretraining | LM, adaptor | both vision branches | language:image-text = 7:3 after a modality warm-up |
| 3 supervised fine-tuning | LM, adaptor, semantic branch | detail branch | `messages`, loss on answers |

Learning-rate shapes and warm-ups are the report's (cosine / step / cosine; 128 / 2000 / 256 warm-up
steps, capped at a tenth of a short run); peak rates come from the model config.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Stage:
    """One stage of the recipe."""

    number: int
    name: str
    trains: tuple[str, ...]  # parameter-name prefixes of the parts that learn; everything else is frozen
    multimodal_pool: str  # pools of model_ref.data.shards
    language_pool: str | None
    language_share: float  # share of steps drawn from the language pool
    modality_warmup: float  # share of the stage over which the language share falls from 1.0 to its target
    sequence: str  # how a row becomes a sequence: "pretrain" (text after the image) or "sft" (messages)
    lr_shape: str  # "cosine" or "step"
    warmup_steps: int


STAGES: dict[int, Stage] = {
    1: Stage(1, "adaptor warm-up", trains=("adaptor",), multimodal_pool="image_text", language_pool=None,
             language_share=0.0, modality_warmup=0.0, sequence="pretrain", lr_shape="cosine", warmup_steps=128),
    2: Stage(2, "joint VL pretraining", trains=("adaptor", "lm"), multimodal_pool="image_text",
             language_pool="language", language_share=0.7, modality_warmup=0.2, sequence="pretrain",
             lr_shape="step", warmup_steps=2000),
    3: Stage(3, "supervised fine-tuning", trains=("adaptor", "lm", "vision.semantic"), multimodal_pool="sft_image",
             language_pool="sft_text", language_share=0.479, modality_warmup=0.0, sequence="sft",
             lr_shape="cosine", warmup_steps=256),
}


def is_trained(name: str, stage: Stage) -> bool:
    """Whether the parameter called `name` learns in `stage`."""
    return any(name == p or name.startswith(p + ".") for p in stage.trains)


def apply_stage(model: nn.Module, stage: Stage) -> list[nn.Parameter]:
    """Freeze everything the stage does not train (requires_grad off, eval mode) and return the
    parameters it does, in a fixed order (the optimizer state is saved against this order)."""
    trained = []
    for name, p in model.named_parameters():
        p.requires_grad_(is_trained(name, stage))
        if p.requires_grad:
            trained.append(p)
    model.train()
    for name, module in model.named_modules():
        if name and not any(is_trained(f"{name}.{n}", stage) for n, _ in module.named_parameters()):
            module.eval()
    return trained
