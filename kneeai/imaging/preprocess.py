"""Intensity normalisation shared by training and inference.

Radiographs from other hospitals differ in exposure, bit depth and processing. Stretching each
knee crop between its own low and high percentiles puts them on one footing before the network
sees them, so the model learns anatomy rather than one scanner's grey levels.
"""
from __future__ import annotations

import numpy as np

__all__ = ["normalize_intensity", "IMAGENET_MEAN", "IMAGENET_STD", "LOW_PERCENTILE", "HIGH_PERCENTILE"]

LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.0
# The backbone was pretrained on ImageNet RGB; grey crops are replicated to 3 channels and
# standardised with ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_intensity(pixels: np.ndarray) -> np.ndarray:
    """Stretch ``pixels`` (2-D, any range) so its 1st..99th percentiles map to 0..1, clipped.

    A flat image (no contrast at all) maps to zeros rather than dividing by zero.
    """
    x = np.asarray(pixels, dtype=np.float32)
    lo, hi = np.percentile(x, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi - lo < 1e-6:
        return np.zeros_like(x, dtype=np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
