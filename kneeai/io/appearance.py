"""Cheap appearance measures of an image, used by the out-of-distribution gate.

Plain numpy, no torch: intake can call :func:`colourfulness` on the decoded colour image before it
converts it to grey, without loading the grading stack.

Every measure takes a 2-D float image in [0, 1] (except :func:`colourfulness`, which takes the
colour image) and returns one number whose meaning and usual range for a knee radiograph are
given in its docstring; the thresholds live in :mod:`kneeai.grading.gate`.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "colourfulness",
    "dynamic_range",
    "grey_level_entropy",
    "flat_fraction",
    "neighbour_correlation",
    "fine_texture",
    "bright_plateau",
]


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness on the 0..255 scale.

    rgb : ndarray, shape = (rows, cols, 3), uint8 or float in [0, 1].

    0 for a grey image; about 15 is "slightly colourful", 33 "moderately", 45 and more "quite"
    colourful. Radiographs saved as RGB, even as JPEG with chroma noise, stay below ~5.
    """
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] < 3:
        return 0.0
    x = a[..., :3].astype(np.float64)
    if a.dtype != np.uint8:
        x = x * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    sigma = np.hypot(rg.std(), yb.std())
    mu = np.hypot(rg.mean(), yb.mean())
    return float(sigma + 0.3 * mu)


def dynamic_range(pixels: np.ndarray) -> float:
    """99th minus 1st percentile of the grey levels (0 for a blank image, ~0.6-0.9 for a knee)."""
    lo, hi = np.percentile(np.asarray(pixels, np.float32), [1.0, 99.0])
    return float(hi - lo)


def _levels(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(pixels, np.float32) * 255.0), 0, 255).astype(np.int64)


def grey_level_entropy(pixels: np.ndarray) -> float:
    """Shannon entropy of the 256-level grey histogram, in bits (0 .. 8)."""
    counts = np.bincount(_levels(pixels).ravel(), minlength=256).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def flat_fraction(pixels: np.ndarray) -> float:
    """Share of pixels within one grey level of the most common level.

    Screenshots, documents and drawings are mostly one flat background colour (> 0.3); a
    radiograph's quantum noise spreads its levels (a knee crop is typically < 0.05).
    """
    levels = _levels(pixels).ravel()
    counts = np.bincount(levels, minlength=258)
    mode = int(counts[:256].argmax())
    near = counts[max(mode - 1, 0) : mode + 2].sum()
    return float(near / levels.size)


def neighbour_correlation(pixels: np.ndarray) -> float:
    """Mean Pearson correlation between horizontally and vertically adjacent pixels.

    Anatomy is smooth at the pixel scale (a knee crop is ~0.9 or more); white noise is ~0.
    A flat image has no defined correlation and returns 1.0 (the blank check catches it).
    """
    x = np.asarray(pixels, np.float64)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a = a.ravel() - a.mean()
        b = b.ravel() - b.mean()
        d = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / d) if d > 1e-12 else 1.0

    return 0.5 * (corr(x[:, :-1], x[:, 1:]) + corr(x[:-1, :], x[1:, :]))


def fine_texture(pixels: np.ndarray) -> float:
    """Detail finer than about two pixels, relative to the image's contrast.

    The standard deviation of the image minus its Gaussian blur (sigma 1 px), divided by the
    dynamic range. A film always carries quantum noise and trabecular texture (knee crops:
    >= 0.011; even blurred with sigma 1 px, ~0.006); a computer-drawn gradient or flat graphic
    has none (~0.0002).
    """
    from scipy import ndimage

    x = np.asarray(pixels, np.float32)
    return float((x - ndimage.gaussian_filter(x, 1.0)).std() / max(dynamic_range(x), 1e-6))


def bright_plateau(pixels: np.ndarray, floor: float = 0.6, tolerance: float = 0.02, min_area: int = 50) -> np.ndarray:
    """Near-white, textureless regions: where metal (a knee prosthesis, a plate) would be.

    Metal stops the beam completely, so it shows as a region at the very top of the grey scale
    with no trabecular texture. Bone's brightest parts still carry quantum noise and
    trabeculae, except where an 8-bit export clipped them (the patella over the femur often
    is): those plateaus are ragged and sit above the joint, which the gate checks separately.

    floor : the brightest level must reach this for any plateau to count (a dark image has none).
    tolerance : grey-level spread allowed within a 5x5 neighbourhood and below the brightest level.
    min_area : smaller regions (text markers, specks) are ignored, in pixels.

    Returns a boolean mask, shape = pixels.shape.
    """
    from scipy import ndimage

    x = np.asarray(pixels, np.float32)
    top = float(np.percentile(x, 99.9))
    if top < floor:
        return np.zeros(x.shape, bool)
    candidate = x >= top - tolerance
    candidate &= (ndimage.maximum_filter(x, size=5) - ndimage.minimum_filter(x, size=5)) <= tolerance
    labels, n = ndimage.label(candidate)
    if n == 0:
        return np.zeros(x.shape, bool)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    # The texture window shaved the regions' rims; grow them back to their true extent.
    return ndimage.binary_dilation(keep[labels], iterations=2) & (x >= top - tolerance)
