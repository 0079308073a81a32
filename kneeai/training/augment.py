"""Radiograph-style augmentation of a training batch: the ranges live in
:data:`kneeai.training.recipe.AUGMENTATION` (one home, quoted by the model card)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from kneeai.imaging.preprocess import normalize_intensity
from kneeai.training.recipe import AUGMENTATION

__all__ = ["augment"]


def augment(batch_u8: torch.Tensor, gen: torch.Generator, noise_p: float = 0.3, lowres_p: float = 0.0,
            border_p: float = 0.0) -> torch.Tensor:
    """Radiograph-style augmentation on a (B, H, W) uint8 batch; returns normalised (B, 1, H, W)."""
    b = batch_u8.shape[0]
    x = batch_u8.float().unsqueeze(1) / 255.0

    dev = x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen, device=dev)

    a = AUGMENTATION
    angle = u(-a["rotation_deg"], a["rotation_deg"]) * math.pi / 180
    scale = u(*a["scale"])
    tx, ty = u(-a["shift"], a["shift"]), u(-a["shift"], a["shift"])
    flip = torch.where(torch.rand(b, generator=gen, device=dev) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    gamma = torch.exp(u(-a["log_gamma"], a["log_gamma"])).view(-1, 1, 1, 1)
    x = x.clamp(1e-4, 1) ** gamma
    contrast = u(*a["contrast"]).view(-1, 1, 1, 1)
    mean = x.mean((2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + u(-a["brightness"], a["brightness"]).view(-1, 1, 1, 1)
    blur = (torch.rand(b, generator=gen, device=dev) < a["blur_p"]).view(-1, 1, 1, 1)
    x = torch.where(blur, F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), x)
    # Other sites' films: a knee resampled up from a low-resolution export, and a band of black
    # collimation border along one edge of the crop.
    lowres = torch.rand(b, generator=gen, device=dev) < lowres_p
    if bool(lowres.any()):
        h, w = x.shape[-2:]
        f = float(u(*a["lowres_factor"])[0])
        small = F.interpolate(x[lowres], scale_factor=f, mode="bilinear", align_corners=False, antialias=True)
        x[lowres] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    border = torch.rand(b, generator=gen, device=dev) < border_p
    if bool(border.any()):
        h, w = x.shape[-2:]
        width = (u(*a["border_width"]) * w).long().view(-1, 1, 1, 1)
        side = torch.randint(0, 4, (b,), generator=gen, device=dev).view(-1, 1, 1, 1)
        rows = torch.arange(h, device=dev).view(1, 1, -1, 1).expand(b, 1, h, w)
        cols = torch.arange(w, device=dev).view(1, 1, 1, -1).expand(b, 1, h, w)
        dist = torch.where(side == 0, cols, torch.where(side == 1, w - 1 - cols, torch.where(side == 2, rows, h - 1 - rows)))
        x = torch.where(border.view(-1, 1, 1, 1) & (dist < width), torch.zeros_like(x), x)
    noise_sd = u(0, a["noise_sd"]).view(-1, 1, 1, 1) * (torch.rand(b, 1, 1, 1, generator=gen, device=dev) < noise_p)
    x = x + noise_sd * torch.randn(x.shape, generator=gen, device=dev)
    return normalize_intensity(x)
