"""Model shapes as data: a tiny default that trains on a CPU, and the report's 1.3B and 7B shapes.

A config is plain dataclasses so it round-trips through the `config.json` saved with every
checkpoint: a checkpoint always carries the exact shape that reads its weights.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SemanticTowerConfig:
    """The low-resolution semantic branch (SigLIP-like ViT): one visual token per patch."""

    image_size: int = 64
    patch_size: int = 8
    width: int = 96
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # SigLIP normalises to [-1, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @property
    def grid(self) -> int:
        """Patches per side: the visual tokens per image are grid * grid."""
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class DetailTowerConfig:
    """The high-resolution detail branch (SAM-like ViTDet): windowed attention, a conv neck, then
    the feature map is interpolated and downsampled by strided convs to the semantic branch's grid."""

    image_size: int = 128
    patch_size: int = 8
    width: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    window: int = 4  # 0 = global attention in every block
    global_blocks: tuple[int, ...] = (1,)  # blocks that attend globally (SAM-B: 2, 5, 8, 11)
    neck_channels: int = 32
    downsample_channels: tuple[int, ...] = (64, 128)  # one 3x3 stride-2 conv per entry
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)  # CLIP's, as DeepSeek-VL uses
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

    @property
    def out_channels(self) -> int:
        return self.downsample_channels[-1] if self.downsample_channels else self.neck_channels


@dataclass(frozen=True)
class LMConfig:
    """The decoder-only language model (LLaMA-like: pre-norm RMSNorm, SwiGLU, rotary positions)."""

    d_model: int = 128
    layers: int = 4
    heads: int = 4
    ffn: int = 352
    vocab_size: int = 4096  # the trained tokenizer's size replaces this (rounded up to a multiple of 64)
    max_seq_len: int = 384
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6


@dataclass(frozen=True)
class ModelConfig:
    """A whole model: towers, adaptor, LM, and the per-stage learning rates that suit its size."""

    name: str = "tiny"
    semantic: SemanticTowerConfig = field(default_factory=SemanticTowerConfig)
    detail: DetailTowerConfig | None = field(default_factory=DetailTowerConfig)  # None: SigLIP alone (1.3B)
    lm: LMConfig = field(default_factory=LMConfig)
    # Peak learning rate of stages 1, 2, 3. The report's values assume a pretrained LLM; a tiny LM
    # trained from scratch needs larger ones to move at all in a few hundred steps.
    stage_lr: tuple[float, float, float] = (1e-3, 1e-3, 5e-4)

    @property
    def image_size(self) -> int:
        """The side of the square image the loader prepares (the detail branch's, when there is one)."""
        return self.detail.image_size if self.detail else self.semantic.image_size

    @property
    def image_tokens(self) -> int:
        """Visual tokens one `<image>` placeholder expands to (576 in the report)."""
        return self.semantic.grid ** 2

    def with_vocab(self, vocab_size: int) -> ModelConfig:
        """This config with the LM's vocabulary sized for a tokenizer (a multiple of 64, for fast matmuls)."""
        padded = -(-vocab_size // 64) * 64
        return dataclasses.replace(self, lm=dataclasses.replace(self.lm, vocab_size=padded))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        detail = d.get("detail")
        return cls(
            name=d["name"],
            semantic=SemanticTowerConfig(**_tuples(d["semantic"])),
            detail=DetailTowerConfig(**_tuples(detail)) if detail else None,
            lm=LMConfig(**d["lm"]),
            stage_lr=tuple(d["stage_lr"]),
        )

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


# SigLIP-L/16 at 384: 24x24 = 576 tokens of width 1024.
_SIGLIP_L = SemanticTowerConfig(image_size=384, patch_size=16, width=1024, depth=24, heads=16, mlp_ratio=4.0)
# SAM-B (ViTDet-B) at 1024: a 64x64 map of width 768, neck to 256 channels, interpolated to 96x96,
# then two stride-2 convs 256 -> 512 -> 1024 give 24x24x1024.
_SAM_B = DetailTowerConfig(image_size=1024, patch_size=16, width=768, depth=12, heads=12, mlp_ratio=4.0,
                           window=14, global_blocks=(2, 5, 8, 11), neck_channels=256,
                           downsample_channels=(512, 1024))

PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(),
    # DeepSeek-VL 1.3B: SigLIP alone and the DeepSeek LLM 1.3B.
    "deepseek-vl-1.3b": ModelConfig(
        name="deepseek-vl-1.3b", semantic=_SIGLIP_L, detail=None,
        lm=LMConfig(d_model=2048, layers=24, heads=16, ffn=5632, vocab_size=102400, max_seq_len=4096),
        stage_lr=(1e-3, 3e-5, 2e-5)),
    # DeepSeek-VL 7B: the hybrid encoder and the DeepSeek LLM 7B.
    "deepseek-vl-7b": ModelConfig(
        name="deepseek-vl-7b", semantic=_SIGLIP_L, detail=_SAM_B,
        lm=LMConfig(d_model=4096, layers=30, heads=32, ffn=11008, vocab_size=102400, max_seq_len=4096),
        stage_lr=(1e-3, 4.2e-5, 2e-5)),
}


def preset(name: str) -> ModelConfig:
    """A named config; the error lists the names there are."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model config {name!r}; choose one of {', '.join(PRESETS)}") from None
