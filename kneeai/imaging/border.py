"""Blank borders of a film: the uniform black (or white) margins a viewer export or a scanner
adds around the image.

The film path works on the film without them, so a knee near the edge is padded with its own
edge pixels (as :func:`~kneeai.imaging.crop.crop_knee` pads) rather than with a black band that
the grader never saw in training: on ``knee-films-dev`` an 8% black border added around every
film had 80 of 250 knees refused before the border was trimmed (``python -m kneeai.bench films``).
"""
from __future__ import annotations

import numpy as np

from kneeai.imaging.localize import ANALYSIS_SIDE, downsample
from kneeai.schemas import CropBox

__all__ = ["content_box", "BLANK_SPREAD", "MAX_BORDER_SHARE"]

# A row or column is blank when its 2nd to 98th percentile spread is below this (grey levels in
# [0, 1]): a constant margin, or one with JPEG ringing; any anatomy or detector noise spreads more.
BLANK_SPREAD = 0.03
# Never trim more than this share of a side from one edge: a film that is mostly blank is left
# for the gate to judge.
MAX_BORDER_SHARE = 0.4


def _blank_run(spread: np.ndarray) -> int:
    limit = int(len(spread) * MAX_BORDER_SHARE)
    n = 0
    while n < limit and spread[n] < BLANK_SPREAD:
        n += 1
    return n


def content_box(pixels: np.ndarray) -> CropBox:
    """The film without its blank margins, in full-resolution pixels (the whole film when none).

    Rows and columns are trimmed in turns (a white strip along the top would otherwise keep the
    black margin at the side from looking blank), until nothing more comes off."""
    h, w = pixels.shape
    small, scale = downsample(pixels, ANALYSIS_SIDE)
    f = int(scale)
    hh, ww = small.shape[0] * f, small.shape[1] * f  # the rows and columns the blocks cover
    t = b = l = r = 0  # blank blocks at each edge
    for _ in range(4):
        view = small[t : small.shape[0] - b, l : small.shape[1] - r]
        lo_r, hi_r = np.percentile(view, [2, 98], axis=1)
        lo_c, hi_c = np.percentile(view, [2, 98], axis=0)
        rows, cols = hi_r - lo_r, hi_c - lo_c
        step = (_blank_run(rows), _blank_run(rows[::-1]), _blank_run(cols), _blank_run(cols[::-1]))
        if not any(step):
            break
        t, b, l, r = t + step[0], b + step[1], l + step[2], r + step[3]
        if (t + b) > small.shape[0] * 2 * MAX_BORDER_SHARE or (l + r) > small.shape[1] * 2 * MAX_BORDER_SHARE:
            break
    # Blocks that straddle the border and the image are not blank, so trimming stays on the border;
    # the rows and columns the blocks left out at the far edges belong to the border too.
    top, left = t * f, l * f
    bottom = b * f + (h - hh if b else 0)
    right = r * f + (w - ww if r else 0)
    top, bottom = min(top, int(h * MAX_BORDER_SHARE)), min(bottom, int(h * MAX_BORDER_SHARE))
    left, right = min(left, int(w * MAX_BORDER_SHARE)), min(right, int(w * MAX_BORDER_SHARE))
    return CropBox(top=top, left=left, height=h - top - bottom, width=w - left - right)
