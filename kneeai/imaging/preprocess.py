"""Intensity normalisation shared by training and inference.

Radiographs from other hospitals differ in exposure, bit depth and processing. Stretching each
knee crop between its own low and high percentiles puts them on one footing before the network
sees them, so the model learns anatomy rather than one scanner's grey levels.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is really made: grading runs without it
    import torch

__all__ = ["normalize_intensity", "normalize_intensity_array", "IMAGENET_MEAN", "IMAGENET_STD", "LOW_PERCENTILE", "HIGH_PERCENTILE"]

LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.0
# The backbone was pretrained on ImageNet RGB; grey crops are replicated to 3 channels and
# standardised with ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_intensity(x: torch.Tensor) -> torch.Tensor:
    """Stretch each image of a batch (B, 1, H, W), any range, so its 1st..99th percentiles map to
    0..1, clipped. Training and inference both call this, so the network sees the same input.

    A flat image (no contrast at all) maps to zeros rather than dividing by zero.
    """
    import torch

    x = x.float()
    q = torch.quantile(x.flatten(1), torch.tensor([LOW_PERCENTILE / 100, HIGH_PERCENTILE / 100], device=x.device), dim=1)
    lo, hi = q[0].view(-1, 1, 1, 1), q[1].view(-1, 1, 1, 1)
    span = hi - lo
    out = ((x - lo) / span.clamp_min(1e-6)).clamp(0, 1)
    return torch.where(span < 1e-6, torch.zeros_like(out), out)


def normalize_intensity_array(x: np.ndarray) -> np.ndarray:
    """:func:`normalize_intensity` in numpy, for a batch (B, H, W): the grading path runs on ONNX
    Runtime and need not import PyTorch. Both use linear interpolation between order statistics,
    so they agree to float32 rounding (``tests/unit/test_preprocess.py``)."""
    x = np.asarray(x, np.float32)
    lo, hi = np.percentile(x.reshape(len(x), -1), [LOW_PERCENTILE, HIGH_PERCENTILE], axis=1).astype(np.float32)
    lo, hi = lo[:, None, None], hi[:, None, None]
    span = hi - lo
    out = np.clip((x - lo) / np.maximum(span, 1e-6), 0, 1)
    return np.where(span < 1e-6, np.float32(0), out).astype(np.float32)
