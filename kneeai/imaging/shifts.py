"""Changes a knee crop undergoes at another site: looser or off-film boxes, other exposure and
processing, rotation, noise, blur and lossy compression.

One home for these, shared by the gate's evaluation (how many shifted knees it refuses) and the
robustness benchmark (how the grade holds up). Each function maps a grey crop in [0, 1] to
another of the same shape.
"""
from __future__ import annotations

import io

import numpy as np

from kneeai.imaging.crop import resample_square

__all__ = ["SITE_SHIFTS"]


def _zoom_out_edge(x: np.ndarray) -> np.ndarray:
    """A box running 25% past the film edge, padded with the edge value as crop_knee pads."""
    return resample_square(np.pad(x, x.shape[0] // 8, mode="edge"), x.shape[0])


def _zoom_out_reflect(x: np.ndarray) -> np.ndarray:
    """A 20% looser crop (the border mirrored, standing in for the femur and tibia)."""
    return resample_square(np.pad(x, x.shape[0] // 10, mode="reflect"), x.shape[0])


def _rotate(x: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.clip(ndimage.rotate(x, 7, reshape=False, mode="nearest"), 0, 1).astype(np.float32)


def _blur(x: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(x, 1.0).astype(np.float32)


def _jpeg(x: np.ndarray, quality: int = 40) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im, np.float32) / 255


SITE_SHIFTS = {
    "looser_crop_20pct_mirrored_border": _zoom_out_reflect,
    "box_past_film_edge_25pct_edge_padded": _zoom_out_edge,
    "gamma_0.7": lambda x: np.clip(x, 0, 1) ** 0.7,
    "gamma_1.4": lambda x: np.clip(x, 0, 1) ** 1.4,
    "low_contrast": lambda x: 0.25 + 0.5 * x,
    "rotate_7deg": _rotate,
    "noise_sd_0.03": lambda x: np.clip(x + np.random.default_rng(0).normal(0, 0.03, x.shape), 0, 1).astype(np.float32),
    "blur_sigma_1px": _blur,
    "jpeg_quality_40": _jpeg,
}
