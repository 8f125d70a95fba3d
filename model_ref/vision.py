"""The hybrid vision encoder: a low-resolution semantic ViT and a high-resolution detail ViT.

The semantic branch (SigLIP-like) sees the image small and gives one token per patch. The detail
branch (SAM-like ViTDet: windowed attention with a few global blocks, a conv neck) sees it large;
its feature map is interpolated to four times the semantic grid and brought down by two stride-2
convs to exactly that grid, so both branches give the same number of tokens whatever the
resolution (576 in the report: 384 px / 16 and 1024 px / 16 -> 64x64 -> 96x96 -> 24x24).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model_ref.config import DetailTowerConfig, ModelConfig, SemanticTowerConfig


class Attention(nn.Module):
    """Multi-head self-attention over a sequence (a whole image, or one window of it)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """A pre-norm ViT block; with `window` > 0 attention stays inside non-overlapping windows (ViTDet)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, window: int = 0) -> None:
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        h = self.norm1(x)
        h = self._windowed(h, grid) if self.window and grid else self.attn(h)
        x = x + h
        return x + self.mlp(self.norm2(x))

    def _windowed(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        gh, gw, w = grid[0], grid[1], self.window
        ph, pw = (-gh) % w, (-gw) % w  # pad the map to whole windows
        m = F.pad(x.view(b, gh, gw, c), (0, 0, 0, pw, 0, ph))
        hh, ww = gh + ph, gw + pw
        win = m.view(b, hh // w, w, ww // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)
        win = self.attn(win)
        m = win.view(b, hh // w, ww // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hh, ww, c)
        return m[:, :gh, :gw].reshape(b, gh * gw, c)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, as in SAM's neck."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SemanticViT(nn.Module):
    """The low-resolution branch: patch embedding, learned positions, blocks, final norm."""

    def __init__(self, cfg: SemanticTowerConfig) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, cfg.grid ** 2, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(images).flatten(2).transpose(1, 2) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class DetailViT(nn.Module):
    """The high-resolution branch: ViTDet blocks, SAM's conv neck, then interpolation to
    `out_grid * 2**len(downsample_channels)` and one 3x3 stride-2 conv per downsample entry."""

    def __init__(self, cfg: DetailTowerConfig, out_grid: int) -> None:
        super().__init__()
        self.grid = cfg.image_size // cfg.patch_size
        self.patch = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, self.grid ** 2, cfg.width))
        self.blocks = nn.ModuleList(
            Block(cfg.width, cfg.heads, cfg.mlp_ratio, window=0 if i in cfg.global_blocks else cfg.window)
            for i in range(cfg.depth))
        self.neck = nn.Sequential(
            nn.Conv2d(cfg.width, cfg.neck_channels, 1, bias=False), LayerNorm2d(cfg.neck_channels),
            nn.Conv2d(cfg.neck_channels, cfg.neck_channels, 3, padding=1, bias=False), LayerNorm2d(cfg.neck_channels))
        convs, channels = [], cfg.neck_channels
        for out in cfg.downsample_channels:
            convs.append(nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False))
            channels = out
        self.downsample = nn.Sequential(*convs)
        self.resize_to = out_grid * 2 ** len(cfg.downsample_channels)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(images).flatten(2).transpose(1, 2) + self.pos
        for block in self.blocks:
            x = block(x, (self.grid, self.grid))
        b, n, c = x.shape
        m = self.neck(x.transpose(1, 2).reshape(b, c, self.grid, self.grid))
        m = F.interpolate(m.float(), size=(self.resize_to, self.resize_to), mode="bilinear",
                          align_corners=False).to(m.dtype)
        return self.downsample(m).flatten(2).transpose(1, 2)


class HybridVisionEncoder(nn.Module):
    """Both branches over one square uint8 image batch: the detail branch sees it at full size, the
    semantic branch a resized copy; each normalises with its own mean and std. Returns
    (semantic tokens, detail tokens or None), each (B, image_tokens, width)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.low_size = cfg.semantic.image_size
        self.semantic = SemanticViT(cfg.semantic)
        self.detail = DetailViT(cfg.detail, cfg.semantic.grid) if cfg.detail else None
        self._norm("semantic", cfg.semantic.mean, cfg.semantic.std)
        if cfg.detail:
            self._norm("detail", cfg.detail.mean, cfg.detail.std)

    def _norm(self, name: str, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.register_buffer(f"{name}_mean", torch.tensor(mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer(f"{name}_std", torch.tensor(std).view(1, 3, 1, 1) * 255, persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = images.float()
        low = x
        if x.shape[-1] != self.low_size:
            low = F.interpolate(x, size=(self.low_size, self.low_size), mode="bilinear", antialias=True,
                                align_corners=False)
        dtype = self.semantic.patch.weight.dtype
        semantic = self.semantic(((low - self.semantic_mean) / self.semantic_std).to(dtype))
        if self.detail is None:
            return semantic, None
        return semantic, self.detail(((x - self.detail_mean) / self.detail_std).to(dtype))
