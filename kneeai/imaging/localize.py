"""A first guess of where the knees are on a film, for the user to confirm or move.

A small, roughly square image is taken to be a knee crop already and comes back whole. On a
larger film:

1. Legs are bright bands in the column-intensity profile. Two bands with a dark valley between
   them (in the middle 30-70 % of the width) make a bilateral film, split at the valley.
2. In each band the knee's column is the middle of the bright run around the brightest column.
3. The joint line is the most marked narrow dark dip in the row profile of that column band
   (the joint space between the femoral condyles and the tibial plateau), weighted towards the
   vertical middle of the leg, where radiographers centre a knee film.
4. The box is a square of :data:`_BOX_PER_LEG_WIDTH` leg widths, an anatomical standard, so the
   crop looks the same to the grader whatever the film's size or pixel spacing. The spacing, where
   the DICOM has one, is used for millimetres only: an exported film's header may carry the
   detector's spacing although the image was resampled, and a box sized from it once covered the
   whole film (``python -m kneeai.bench films``: 225 of 251 knees refused as a DICOM with a spacing).

Laterality: a PA or AP film is displayed as if facing the patient, so the patient's right knee
is on the viewer's left, unless PatientOrientation says the columns run towards the patient's
right. A single-knee film takes its laterality from DICOM (ImageLaterality / Laterality).
The result is a guess: kneeai.grading.centre then centres each box on its joint with the grader,
and the UI shows the boxes for the user to confirm.
"""
from __future__ import annotations

import numpy as np

from kneeai.config import SETTINGS
from kneeai.schemas import CropBox, Laterality, Radiograph

__all__ = ["guess_knee_boxes", "with_sides", "fit_on_film", "downsample", "is_single_knee", "shows_two_legs", "ANALYSIS_SIDE"]

# The search runs on a copy at most this many pixels per side: enough for a joint space of a few
# millimetres on a 43 cm film, and fast.
ANALYSIS_SIDE = 512
# Up to this aspect an image of crop size is a crop whatever it shows.
SQUARE_ASPECT = 1.35
# The two legs of one patient are of about one width: a second bright band narrower than this
# share of the first is not a leg.
_MIN_LEG_WIDTH_RATIO = 0.5
# A square of this many leg widths when the pixel spacing is unknown: a leg at the knee is about
# 120 mm wide including soft tissue and the crop is SETTINGS.crop_mm (140 mm).
_BOX_PER_LEG_WIDTH = 1.2


def is_single_knee(rad: Radiograph) -> bool:
    """Whether ``rad`` is a knee crop already (like the training data) rather than a film.

    A small, roughly square image is a crop. A small image up to twice as wide as tall (other
    clinics crop wider than the OAI) is a crop too, unless it shows two legs side by side (a
    bilateral film exported small), and so is one up to twice as tall as wide (a portrait crop, or
    one clipped at a film's side). Larger or longer images are films.
    """
    h, w = rad.shape
    if max(h, w) > SETTINGS.single_knee_max_side:
        return False
    aspect = max(h, w) / max(min(h, w), 1)
    if aspect <= SQUARE_ASPECT:
        return True
    if aspect > SETTINGS.single_knee_max_aspect:
        return False
    # Two legs stand side by side, so only a wide image can be a small bilateral film. Portrait crops
    # past 1.35:1 were taken for films: 6.8% of knee-films-dev's knees cut 1.3:1 (bench crops).
    return h > w or not shows_two_legs(rad)


def shows_two_legs(rad: Radiograph) -> bool:
    """Whether the column profile shows two bright legs with a dark gap between them."""
    _, _, profile, background = _column_profile(rad.pixels)
    strips, _ = _legs(profile, background)
    return len(strips) == 2


def _column_profile(pixels: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, float]:
    """(the image at :data:`ANALYSIS_SIDE`, full pixels per small pixel, its smoothed column
    profile, its background level)."""
    small, scale = downsample(pixels, ANALYSIS_SIDE)
    profile = _smooth(small.mean(axis=0), small.shape[1] * 0.02)
    return small, scale, profile, float(np.percentile(small, 5))


def guess_knee_boxes(rad: Radiograph, as_film: bool = False) -> list[tuple[CropBox, Laterality | None]]:
    """Boxes around each knee on ``rad``, from the viewer's left to right, with a laterality guess.

    ``as_film`` searches for knees even when the image is small enough to pass for a single-knee
    crop (the user said it is a film).

    Returns
    -------
    list of (CropBox, laterality)
        One entry for a single-knee image or film, two for a bilateral film. Boxes are in full-
        resolution pixel coordinates, kept inside the film when they fit.
    """
    h, w = rad.shape
    if is_single_knee(rad) and not as_film:
        return [(CropBox(top=0, left=0, height=h, width=w), rad.laterality)]

    small, scale, profile, background = _column_profile(rad.pixels)
    bilateral_hint = rad.meta.get("ImageLaterality", "").upper() == "B"
    strips, legs = _legs(profile, background, single=rad.laterality is not None, force=bilateral_hint)

    found: list[CropBox] = []
    for (c0, _), (centre_col, leg_width) in zip(strips, legs):
        centre_col += c0
        half = max(int(leg_width / 4), 2)
        band = small[:, max(centre_col - half, 0) : centre_col + half + 1]
        joint_row = _joint_row(band.mean(axis=1), background)
        found.append(_box(rad, int(round(joint_row * scale)), int(round(centre_col * scale)), leg_width * scale))

    return with_sides(rad, found)


def with_sides(rad: Radiograph, boxes: list[CropBox]) -> list[tuple[CropBox, Laterality | None]]:
    """The knees' boxes from the viewer's left, each with its side: a single knee takes the DICOM
    header's; of two, the one on the viewer's left is the patient's right (AP/PA as displayed),
    unless PatientOrientation says the columns run towards the patient's right."""
    boxes = sorted(boxes, key=lambda b: b.left + b.width / 2)
    if len(boxes) < 2:
        return [(b, rad.laterality) for b in boxes]
    viewer_left_is = "L" if _columns_run_to_patient_right(rad) else "R"
    other = "R" if viewer_left_is == "L" else "L"
    return [(boxes[0], viewer_left_is), (boxes[1], other)]  # type: ignore[list-item]


def _legs(profile: np.ndarray, background: float, single: bool = False,
          force: bool = False) -> tuple[list[tuple[int, int]], list[tuple[int, float]]]:
    """The column strips of a column profile that hold one leg each, with each leg's (middle
    column within its strip, width): two when a dark valley parts two legs of comparable width."""
    valley = None if single else _valley(profile, background, force=force)
    strips = [(0, valley), (valley, len(profile))] if valley is not None else [(0, len(profile))]
    legs = [_leg_column(profile[c0:c1], background) for c0, c1 in strips]
    if len(legs) == 2 and min(w for _, w in legs) < _MIN_LEG_WIDTH_RATIO * max(w for _, w in legs):
        # A "leg" a fraction of the other's width is a marker, a label or a strip of collimator
        # edge beside one knee (a white frame line at the border made a 21-pixel second knee), or
        # the edge of the other knee in a wide crop of one (bench crops: 2.8% of 1.85:1 crops).
        wide = int(np.argmax([w for _, w in legs]))
        strips, legs = [strips[wide]], [legs[wide]]
    return strips, legs


def downsample(pixels: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Block-mean downsampling by an integer factor; returns (image, full pixels per small pixel)."""
    h, w = pixels.shape
    f = max(1, int(np.ceil(max(h, w) / side)))
    if f == 1:
        return np.asarray(pixels, dtype=np.float32), 1.0
    hh, ww = (h // f) * f, (w // f) * f
    small = pixels[:hh, :ww].reshape(hh // f, f, ww // f, f).mean(axis=(1, 3), dtype=np.float32)
    return small, float(f)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(x, dtype=np.float64), max(sigma, 0.5), mode="nearest")


def _valley(profile: np.ndarray, background: float, force: bool = False) -> int | None:
    """Column of the dark gap between two legs, or None for a single leg.

    Both sides must hold a bright band of comparable height (one leg each), and the gap must
    fall to less than half of the dimmer band's height above the background.
    """
    n = len(profile)
    lo, hi = int(n * 0.3), int(n * 0.7)
    v = lo + int(np.argmin(profile[lo:hi]))
    left, right = float(profile[:v].max()), float(profile[v:].max())
    dim, bright = min(left, right) - background, max(left, right) - background
    if force:
        return v
    if bright <= 0 or dim < 0.5 * bright:
        return None
    return v if profile[v] - background < 0.5 * dim else None


def _leg_column(profile: np.ndarray, background: float) -> tuple[int, float]:
    """(middle column, width) of a strip's leg: of the runs brighter than half its brightest
    column, the one with the most brightness above the background. A leg is wide; a frame line,
    lead marker or label at the film's edge may be brighter but is narrow."""
    peak = int(np.argmax(profile))
    level = background + 0.5 * (float(profile[peak]) - background)
    above = np.concatenate([[False], profile >= level, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    runs = list(zip(edges[::2], edges[1::2] - 1))  # (first, last) columns of each bright run
    mass = [float((profile[a : b + 1] - background).sum()) for a, b in runs]
    left, right = runs[int(np.argmax(mass))]
    return int(left + right) // 2, float(right - left + 1)


def _joint_row(rows: np.ndarray, background: float) -> int:
    """Row of the joint space: the strongest narrow dark dip (large-scale minus fine-scale
    smoothing), weighted by a Gaussian centred on the middle of the leg's vertical extent."""
    n = len(rows)
    fine = _smooth(rows, n * 0.01)
    coarse = _smooth(rows, n * 0.08)
    dip = np.clip(coarse - fine, 0.0, None)
    level = background + 0.3 * (float(fine.max()) - background)
    leg = np.flatnonzero(fine >= level)
    top, bottom = (int(leg[0]), int(leg[-1])) if leg.size else (0, n - 1)
    middle, extent = (top + bottom) / 2.0, max(bottom - top, 1)
    prior = np.exp(-0.5 * ((np.arange(n) - middle) / (0.25 * extent)) ** 2)
    score = dip * prior
    if score.max() <= 0:
        return int(round(middle))
    return int(np.argmax(score))


def _box(rad: Radiograph, row: int, col: int, leg_width_px: float) -> CropBox:
    h, w = rad.shape
    side = int(min(max(_BOX_PER_LEG_WIDTH * leg_width_px, 16), h, w))
    box = CropBox(top=row - side // 2, left=col - side // 2, height=side, width=side)
    return fit_on_film(rad, box)


def fit_on_film(rad: Radiograph, box: CropBox) -> CropBox:
    """Slide ``box`` back onto the film where it fits; crop_knee pads whatever still sticks out."""
    h, w = rad.shape
    top = min(max(box.top, 0), max(h - box.height, 0)) if box.height <= h else box.top
    left = min(max(box.left, 0), max(w - box.width, 0)) if box.width <= w else box.left
    return CropBox(top=top, left=left, height=box.height, width=box.width)


def _columns_run_to_patient_right(rad: Radiograph) -> bool:
    """DICOM PatientOrientation's first value is the direction of increasing column index."""
    first = rad.meta.get("PatientOrientation", "").split("\\")[0].strip().upper()
    return first.startswith("R")
