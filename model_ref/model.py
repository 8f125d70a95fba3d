"""The VL model: vision encoder -> adaptor -> visual tokens spliced into the LM's input embeddings.

A sequence holds `image_tokens` copies of the `<image>` token per image; their embeddings are
replaced, in order, by the adaptor's outputs. The loss is next-token prediction on the positions
whose label is not IGNORE (text only, never the visual tokens).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model_ref.adaptor import build_adaptor
from model_ref.config import ModelConfig
from model_ref.lm import DecoderLM
from model_ref.tokenizer import IMAGE_ID
from model_ref.vision import HybridVisionEncoder

IGNORE = -100  # label of a position that carries no loss


class VLModel(nn.Module):
    """The three parts under the names the stages freeze by: `vision.semantic`, `vision.detail`,
    `adaptor`, `lm`."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision = HybridVisionEncoder(cfg)
        self.adaptor = build_adaptor(cfg)
        self.lm = DecoderLM(cfg.lm)
        self.apply(_init_weights)

    def embed(self, input_ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with the visual tokens of `images` (uint8, (n_images, 3, S, S)) spliced in."""
        emb = self.lm.embed(input_ids)
        slots = input_ids == IMAGE_ID
        if images is None or images.shape[0] == 0:
            assert not bool(slots.any()), "the sequence has <image> tokens but no image was given"
            return emb
        semantic, detail = self.vision(images)
        visual = self.adaptor(semantic, detail)
        assert visual.shape[0] * visual.shape[1] == int(slots.sum()), \
            f"{int(slots.sum())} <image> slots for {visual.shape[0]} images of {visual.shape[1]} tokens"
        return emb.masked_scatter(slots.unsqueeze(-1), visual.to(emb.dtype))

    def forward(self, input_ids: torch.Tensor, images: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, mean next-token loss over labelled positions, or None without labels)."""
        logits = self.lm(self.embed(input_ids, images))
        if labels is None:
            return logits, None
        return logits, next_token_loss(logits, labels)


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of position i's logits against label i+1 (in float32)."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE, reduction=reduction)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


def build_model(cfg: ModelConfig, device: str | torch.device = "cpu", seed: int = 0) -> VLModel:
    """A freshly initialised model on `device` (the same weights for the same seed); `meta` builds
    the shapes without allocating memory, to count the parameters of the large configs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.device(device):
            return VLModel(cfg)


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of a module (only those with requires_grad, if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
