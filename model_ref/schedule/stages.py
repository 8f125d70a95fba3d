"""The report's three training stages: what each one trains, freezes and reads.

| stage | trains | frozen | data |
|---|---|---|---|
| 1 adaptor warm-up | adaptor | both vision branches, LM | image-text pairs |
| 2 joint VL pretraining | LM, adaptor | both vision branches | language:multimodal = 7:3 after a modality warm-up (*) |
| 3 supervised fine-tuning | LM, adaptor, semantic branch | detail branch | `messages`, loss on answers |

(*) Of stage 2's multimodal steps, 43.7% draw interleaved documents and the rest image-text pairs
(see INTERLEAVED_SHARE).

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
    interleaved_pool: str | None = None  # documents with images, drawn on a share of the multimodal steps
    interleaved_share: float = 0.0  # share of the multimodal steps (not of all steps) that are interleaved


# The report's pretraining mix is 70% text-only and 30% multimodal, 13.1 points of which are
# interleaved image-text documents (the other 16.9: captions 11.1, document OCR 2.1, table and chart
# 2.1, scene-text OCR 1.2, web code 0.4, all image-text pairs here). Stage 2 already splits its
# steps language:multimodal 7:3 (`language_share`, which `--language-share` changes), so the
# interleaved share is taken of the multimodal steps: 13.1 / 30.0 = 0.437, i.e. 13.1% of all steps
# after the modality warm-up, and it stays a fixed part of the multimodal steps whatever the
# language share (the warm-up, which starts all-text, thins both alike).
INTERLEAVED_SHARE = round(13.1 / 30.0, 3)


STAGES: dict[int, Stage] = {
    1: Stage(1, "adaptor warm-up", trains=("adaptor",), multimodal_pool="image_text", language_pool=None,
             language_share=0.0, modality_warmup=0.0, sequence="pretrain", lr_shape="cosine", warmup_steps=128),
    2: Stage(2, "joint VL pretraining", trains=("adaptor", "lm"), multimodal_pool="image_text",
             language_pool="language", language_share=0.7, modality_warmup=0.2, sequence="pretrain",
             lr_shape="step", warmup_steps=2000, interleaved_pool="interleaved", interleaved_share=INTERLEAVED_SHARE),
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
