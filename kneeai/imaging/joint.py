"""The tibiofemoral joint line of a knee crop: shared by the gate, the joint-space width and the
explanation's regions (a leaf, so none of them imports another for it)."""
from __future__ import annotations

import numpy as np

__all__ = ["JOINT_SEARCH", "JOINT_COLUMNS", "find_joint_row"]

# Rows searched for the joint line, as fractions of the height: the crops are centred on the
# joint, give or take the user's box placement.
JOINT_SEARCH = (0.30, 0.75)
# Columns whose dark gap marks the joint: both compartments, leaving out the intercondylar notch
# (dark above the spines) and the soft tissue at the edges.
JOINT_COLUMNS = ((0.15, 0.42), (0.58, 0.85))


def _smooth_columns(x: np.ndarray, k: int = 5) -> np.ndarray:
    pad = np.pad(x, ((k // 2, k // 2), (0, 0)), mode="edge")
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), pad]), axis=0)
    return (c[k:] - c[:-k]) / k


def find_joint_row(pixels: np.ndarray) -> int:
    """Row of the tibiofemoral joint line in a knee crop.

    The joint space is the darkest horizontal gap between the bright femoral condyles and the
    tibial plateau. Each column of both compartments votes for its darkest row (after a 5-row
    moving average) within the middle 30-75% of rows; the median vote wins, which tolerates a
    tilted joint and one compartment narrower than the other. An image without contrast there
    (blank, or no bone) falls back to the centre row.

    pixels : ndarray, shape = (rows, cols), float in [0, 1], bone bright.
    """
    x = np.asarray(pixels, np.float64)
    h, w = x.shape
    lo, hi = int(JOINT_SEARCH[0] * h), int(JOINT_SEARCH[1] * h)
    cols = np.concatenate([np.arange(int(a * w), int(b * w)) for a, b in JOINT_COLUMNS])
    strip = _smooth_columns(x[:, cols])[lo:hi]
    if float(np.ptp(strip)) < 1e-3:
        return h // 2
    return lo + int(np.median(np.argmin(strip, axis=0)))
