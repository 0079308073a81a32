"""Heatmap over the knee crop, as an RGB image, without matplotlib at run time.

The colours are the "inferno" map (van der Walt and Smith, matplotlib 1.5; released CC0): it is
perceptually uniform, so equal steps of evidence look like equal steps of colour, and it stays
readable in grey print and for the common colour-vision deficiencies. 17 anchors sampled from
it are interpolated linearly, which is indistinguishable from the 256-entry table on screen.
"""
from __future__ import annotations

import numpy as np

__all__ = ["INFERNO_ANCHORS", "colormap", "overlay"]

INFERNO_ANCHORS = np.array(
    [
        (0.0015, 0.0005, 0.0139),
        (0.0423, 0.0281, 0.1411),
        (0.1293, 0.0473, 0.2908),
        (0.2383, 0.0366, 0.3964),
        (0.3415, 0.0623, 0.4294),
        (0.4412, 0.0993, 0.4316),
        (0.5409, 0.1347, 0.4151),
        (0.6401, 0.1714, 0.3811),
        (0.7357, 0.2159, 0.3302),
        (0.8224, 0.2752, 0.2661),
        (0.8943, 0.3534, 0.1936),
        (0.9470, 0.4492, 0.1153),
        (0.9784, 0.5579, 0.0349),
        (0.9879, 0.6753, 0.0653),
        (0.9746, 0.7977, 0.2063),
        (0.9476, 0.9174, 0.4107),
        (0.9884, 0.9984, 0.6449),
    ],
    dtype=np.float32,
)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (clipped) to RGB floats, shape = values.shape + (3,)."""
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    pos = v * (len(INFERNO_ANCHORS) - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), len(INFERNO_ANCHORS) - 2)
    frac = (pos - lo)[..., None]
    return INFERNO_ANCHORS[lo] * (1 - frac) + INFERNO_ANCHORS[lo + 1] * frac


def overlay(crop_pixels: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """Blend the heatmap's colours over the grey crop.

    Each pixel's blend weight is ``opacity * heatmap``: where the map is zero the radiograph
    shows unchanged, so the colour marks evidence instead of tinting the whole knee.

    crop_pixels : ndarray, shape = (rows, cols), float in [0, 1].
    heatmap : ndarray, same shape, float in [0, 1].
    opacity : 0 (radiograph only) .. 1 (colour only where the evidence is strongest).

    Returns an ndarray, shape = (rows, cols, 3), uint8.
    """
    grey = np.clip(np.asarray(crop_pixels, np.float32), 0.0, 1.0)
    heat = np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0)
    if grey.shape != heat.shape:
        raise ValueError(f"heatmap shape {heat.shape} differs from the crop's {grey.shape}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity}")
    alpha = (opacity * heat)[..., None]
    rgb = grey[..., None] * (1 - alpha) + colormap(heat) * alpha
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
