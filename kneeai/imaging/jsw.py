"""A simple joint-space-width (JSW) profile across the tibiofemoral joint, in millimetres.

Only where the crop's scale is known (``KneeCrop.mm_per_pixel`` from the film's pixel spacing).
For each column across both compartments, the joint space is the dark band around the joint
line (:func:`kneeai.explain.regions.find_joint_row`); its width is measured between the
half-way crossings from the darkest row up to the bone on either side (full width at half the
depth). This is a screening-grade estimate on a 224-pixel crop, far coarser than dedicated
software on the full-resolution film.

Measurement error: published reproducibility of minimum JSW is an SD of about 0.1-0.3 mm, so a
change smaller than about 0.3-0.7 mm is within measurement noise. We call a change real only
beyond :data:`DETECTABLE_CHANGE_MM` (the top of that range, because this method is cruder).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kneeai.imaging.joint import find_joint_row

__all__ = ["JSWProfile", "JSWComparison", "jsw_profile", "compare_min_jsw", "compare_visit_crops", "JSW_SD_MM",
           "DETECTABLE_CHANGE_MM"]

JSW_SD_MM: tuple[float, float] = (0.1, 0.3)  # published test-retest SD of minimum JSW
NOISE_RANGE_MM: tuple[float, float] = (0.3, 0.7)  # smallest detectable change reported in the literature
DETECTABLE_CHANGE_MM: float = NOISE_RANGE_MM[1]
# Columns measured (fractions of the crop width): both compartments, not the notch or the margins.
_COLUMNS = ((0.18, 0.45), (0.55, 0.82))
# Rows searched above and below the joint line for the bone edges, in millimetres.
_SEARCH_MM = 12.0


# A tibiofemoral joint space is at most about 10 mm even in young adults; wider means the notch.
_MAX_MM = 12.0


def _running_median(v: np.ndarray, k: int) -> np.ndarray:
    """Median over k neighbouring columns, ignoring NaN (a lone spike is not a width)."""
    out = np.full_like(v, np.nan)
    half = k // 2
    for i in range(len(v)):
        window = v[max(0, i - half): i + half + 1]
        window = window[np.isfinite(window)]
        if np.isfinite(v[i]) and len(window):
            out[i] = np.median(window)
    return out


@dataclass(frozen=True)
class JSWProfile:
    """positions_mm : distance of each measured column from the crop's left edge.
    width_mm : JSW at each column (NaN where no joint space was found).
    medial_min_mm, lateral_min_mm : minimum JSW per compartment (None when laterality is unknown
        or a compartment gave no measurement); ``min_mm`` over both.
    """

    positions_mm: np.ndarray
    width_mm: np.ndarray
    min_mm: float | None
    medial_min_mm: float | None
    lateral_min_mm: float | None


def _width_at(column: np.ndarray, joint: int, reach: int) -> float:
    lo, hi = max(0, joint - reach), min(len(column), joint + reach + 1)
    seg = column[lo:hi]
    if len(seg) < 5:
        return float("nan")
    k = int(np.argmin(seg))
    bottom = seg[k]
    top_bone, bottom_bone = seg[:k + 1].max() if k > 0 else bottom, seg[k:].max()
    if min(top_bone, bottom_bone) - bottom < 0.05:  # no contrast: no joint space to measure
        return float("nan")
    up = np.nonzero(seg[: k + 1] >= (bottom + top_bone) / 2)[0]
    down = np.nonzero(seg[k:] >= (bottom + bottom_bone) / 2)[0]
    if len(up) == 0 or len(down) == 0:
        return float("nan")
    return float(k + down[0] - up[-1])


def jsw_profile(pixels: np.ndarray, mm_per_pixel: float, laterality: str | None = None) -> JSWProfile:
    """JSW across the joint of a knee crop (rows, cols), float in [0, 1], bone bright."""
    x = np.asarray(pixels, np.float64)
    h, w = x.shape
    # Light vertical smoothing: noise would otherwise split the half-depth crossings.
    kernel = np.ones(3) / 3
    smooth = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, x)
    joint = find_joint_row(x)
    reach = max(3, int(round(_SEARCH_MM / mm_per_pixel)))
    cols = np.concatenate([np.arange(int(a * w), int(b * w)) for a, b in _COLUMNS])
    widths = np.array([_width_at(smooth[:, c], joint, reach) for c in cols]) * mm_per_pixel
    # Wider than any knee joint space: the notch or a margin, not a measurement.
    widths[widths > _MAX_MM] = np.nan
    widths = _running_median(widths, 5)

    def _min(mask: np.ndarray) -> float | None:
        v = widths[mask]
        v = v[np.isfinite(v)]
        return float(v.min()) if len(v) else None

    left = cols < w / 2
    medial = lateral = None
    if laterality == "R":  # medial is on the image's right (see kneeai.explain.regions)
        medial, lateral = _min(~left), _min(left)
    elif laterality == "L":
        medial, lateral = _min(left), _min(~left)
    return JSWProfile(cols * mm_per_pixel, widths, _min(np.ones_like(left)), medial, lateral)


def compare_min_jsw(before: float | None, after: float | None) -> tuple[float | None, bool]:
    """(after - before in mm, whether the change is beyond measurement noise)."""
    if before is None or after is None:
        return None, False
    change = after - before
    return change, abs(change) >= DETECTABLE_CHANGE_MM


@dataclass(frozen=True)
class JSWComparison:
    """Two visits' joint-space widths: the profiles, and the minimum compared where it can be.

    ``compartment`` is "medial" when both visits know the side (the medial compartment narrows
    first in knee OA), else "overall"; ``change`` is None when a minimum was not found.
    """

    before: JSWProfile
    after: JSWProfile
    compartment: str
    before_mm: float | None
    after_mm: float | None
    change_mm: float | None
    beyond_noise: bool


def compare_visit_crops(a_pixels: np.ndarray, a_mm_per_pixel: float, a_laterality: str | None,
                        b_pixels: np.ndarray, b_mm_per_pixel: float, b_laterality: str | None) -> JSWComparison:
    """The JSW comparison of two visits' knee crops (earlier first), as the Patient page shows it."""
    pa = jsw_profile(a_pixels, a_mm_per_pixel, a_laterality)
    pb = jsw_profile(b_pixels, b_mm_per_pixel, b_laterality)
    medial = pa.medial_min_mm is not None and pb.medial_min_mm is not None
    before, after = (pa.medial_min_mm, pb.medial_min_mm) if medial else (pa.min_mm, pb.min_mm)
    change, real = compare_min_jsw(before, after)
    return JSWComparison(pa, pb, "medial" if medial else "overall", before, after, change, real)
