"""The vision-language adaptor: maps visual tokens into the language model's embedding space.

With two branches it is the report's "two-layer hybrid MLP": each branch goes through its own
linear layer to half the LM width, the halves are concatenated, then GELU and one more linear
layer. With the semantic branch alone (the 1.3B) it is a plain two-layer MLP with GELU.
"""

from __future__ import annotations

import torch
from torch import nn

from model_ref.config import ModelConfig


class HybridMLPAdaptor(nn.Module):
    """Two streams in, one token sequence of LM width out (the detail half first, as DeepSeek-VL does)."""

    def __init__(self, semantic_dim: int, detail_dim: int, d_model: int) -> None:
        super().__init__()
        self.detail_proj = nn.Linear(detail_dim, d_model // 2)
        self.semantic_proj = nn.Linear(semantic_dim, d_model - d_model // 2)
        self.out = nn.Sequential(nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, semantic: torch.Tensor, detail: torch.Tensor | None) -> torch.Tensor:
        assert detail is not None, "the hybrid adaptor needs the detail branch's tokens"
        return self.out(torch.cat([self.detail_proj(detail), self.semantic_proj(semantic)], dim=-1))


class MLPAdaptor(nn.Module):
    """Linear, GELU, linear: the adaptor when only the semantic branch exists."""

    def __init__(self, semantic_dim: int, d_model: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(semantic_dim, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, semantic: torch.Tensor, detail: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(semantic)


def build_adaptor(cfg: ModelConfig) -> nn.Module:
    """The adaptor that fits the config's towers."""
    if cfg.detail:
        return HybridMLPAdaptor(cfg.semantic.width, cfg.detail.out_channels, cfg.lm.d_model)
    return MLPAdaptor(cfg.semantic.width, cfg.lm.d_model)
