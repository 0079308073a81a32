"""A heatmap laid over a knee crop, as RGB pixels (pure numpy; no plotting library).

The colour scale is a perceptually ordered dark-red -> yellow ramp, transparent where the
heatmap is low, so the bone stays readable under it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["heat_colours", "overlay_rgb", "grey_rgb"]

# Anchor colours of the ramp at heat 0, 0.35, 0.7, 1 (inferno-like, printable in grey too).
_STOPS = np.array([0.0, 0.35, 0.7, 1.0])
_COLOURS = np.array([[40, 11, 84], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32) / 255.0


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """heat : (h, w) in [0, 1] -> (h, w, 3) float RGB in [0, 1]."""
    h = np.clip(np.asarray(heat, np.float32), 0, 1)
    return np.stack([np.interp(h, _STOPS, _COLOURS[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def grey_rgb(pixels: np.ndarray) -> np.ndarray:
    """(h, w) in [0, 1] -> (h, w, 3) uint8."""
    g = (np.clip(np.asarray(pixels, np.float32), 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def overlay_rgb(pixels: np.ndarray, heat: np.ndarray | None, alpha: float = 0.55) -> np.ndarray:
    """The crop in grey with the heatmap blended in proportion to its value; uint8 (h, w, 3).

    ``heat`` must have the crop's shape (the explainer returns it so); None gives the plain crop.
    """
    base = np.repeat(np.clip(np.asarray(pixels, np.float32), 0, 1)[..., None], 3, axis=-1)
    if heat is not None:
        heat = np.clip(np.asarray(heat, np.float32), 0, 1)
        if heat.shape != base.shape[:2]:
            raise ValueError(f"heatmap shape {heat.shape} differs from the crop's {base.shape[:2]}")
        weight = (alpha * heat)[..., None]
        base = (1 - weight) * base + weight * heat_colours(heat)
    return (np.clip(base, 0, 1) * 255).round().astype(np.uint8)
