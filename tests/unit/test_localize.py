"""Knee localisation on synthetic films built from the example knees."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.imaging.localize import guess_knee_boxes
from kneeai.schemas import CropBox, Radiograph

KNEES = Path(__file__).resolve().parents[2] / "examples" / "knees"
KNEE_PX = 300  # each 224-pixel example crop (about 140 mm) is pasted at this size
MM_PER_PX = 140.0 / KNEE_PX


def _leg(name: str, mirror: bool = False) -> np.ndarray:
    """A knee crop resized to KNEE_PX, with its femur and tibia continued 250 px up and down."""
    img = Image.open(KNEES / name).convert("L").resize((KNEE_PX, KNEE_PX), Image.Resampling.BICUBIC)
    x = np.asarray(img, dtype=np.float32) / 255.0
    if mirror:
        x = x[:, ::-1]
    return np.pad(x, ((250, 250), (0, 0)), mode="edge")


def _paste(canvas: np.ndarray, leg: np.ndarray, joint_row: int, centre_col: int) -> None:
    top, left = joint_row - leg.shape[0] // 2, centre_col - leg.shape[1] // 2
    r0, r1 = max(top, 0), min(top + leg.shape[0], canvas.shape[0])
    canvas[r0:r1, left : left + leg.shape[1]] = leg[r0 - top : r1 - top]


def _film(legs: list[tuple[str, bool, int, int]], shape: tuple[int, int], spacing: bool, **kwargs) -> Radiograph:
    canvas = np.full(shape, 0.04, dtype=np.float32)
    for name, mirror, row, col in legs:
        _paste(canvas, _leg(name, mirror), row, col)
    return Radiograph(pixels=canvas, spacing_mm=(MM_PER_PX, MM_PER_PX) if spacing else None, source="test", **kwargs)


def _contains(box: CropBox, row: int, col: int) -> bool:
    return box.top <= row < box.top + box.height and box.left <= col < box.left + box.width


# Knees off the half-centres and at different heights, so a naive "centre of each half" fails.
BILATERAL = [("kl2_9015402R.webp", False, 360, 330), ("kl3_9023348L.webp", True, 560, 1080)]


@pytest.mark.parametrize("spacing", [True, False])
def test_bilateral_film_gets_a_box_on_each_knee(spacing: bool) -> None:
    rad = _film(BILATERAL, (900, 1400), spacing, laterality=None)
    boxes = guess_knee_boxes(rad)
    assert len(boxes) == 2
    (left_box, left_lat), (right_box, right_lat) = boxes
    (_, _, lrow, lcol), (_, _, rrow, rcol) = BILATERAL
    assert _contains(left_box, lrow, lcol) and _contains(right_box, rrow, rcol)
    assert not _contains(left_box, rrow, rcol) and not _contains(right_box, lrow, lcol)
    # the patient's right knee is on the viewer's left of a PA/AP film
    assert (left_lat, right_lat) == ("R", "L")
    for box, (_, _, row, col) in zip((left_box, right_box), BILATERAL):
        # centred on the joint to within a sixth of the box
        assert abs(box.top + box.height / 2 - row) < box.height / 6
        assert abs(box.left + box.width / 2 - col) < box.width / 6
        assert 0.5 * KNEE_PX <= box.height == box.width <= 1.5 * KNEE_PX
    # The pixel spacing gives millimetres; it does not decide what the network sees.
    other = guess_knee_boxes(_film(BILATERAL, (900, 1400), not spacing, laterality=None))
    assert [b for b, _ in other] == [left_box, right_box]


def test_patient_orientation_that_runs_to_the_right_swaps_laterality() -> None:
    rad = _film(BILATERAL, (900, 1400), True, laterality=None, meta={"PatientOrientation": "R\\F"})
    assert [lat for _, lat in guess_knee_boxes(rad)] == ["L", "R"]


def test_single_knee_film_gets_one_box_with_dicom_laterality() -> None:
    rad = _film([("kl1_9003380L.webp", False, 560, 420)], (1100, 900), True, laterality="L")
    boxes = guess_knee_boxes(rad)
    assert len(boxes) == 1
    box, lat = boxes[0]
    assert lat == "L" and _contains(box, 560, 420)
    assert abs(box.top + box.height / 2 - 560) < box.height / 6


def test_single_leg_off_centre_on_a_wide_film_is_not_split() -> None:
    rad = _film([("kl4_9070207R.webp", False, 450, 350)], (900, 1400), False, laterality=None)
    boxes = guess_knee_boxes(rad)
    assert len(boxes) == 1 and boxes[0][1] is None
    assert _contains(boxes[0][0], 450, 350)


@pytest.mark.parametrize("brightness", [0.7, 0.9])
def test_a_white_frame_line_at_the_film_edge_is_not_a_knee(brightness: float) -> None:
    # One knee and, at the film's right edge, a bright frame line a few columns wide (a viewer
    # export once made it a second, 21-pixel knee; brighter still, it took the only box).
    rad = _film([("kl2_9015402R.webp", False, 450, 220)], (900, 720), False, laterality=None)
    rad.pixels[:, 690:] = brightness
    boxes = guess_knee_boxes(rad, as_film=True)
    assert len(boxes) == 1
    assert _contains(boxes[0][0], 450, 220)


def test_a_knee_crop_comes_back_whole() -> None:
    x = np.asarray(Image.open(KNEES / "kl0_9006140L.webp").convert("L"), dtype=np.float32) / 255
    rad = Radiograph(pixels=x, spacing_mm=None, laterality="R", source="test")
    assert guess_knee_boxes(rad) == [(CropBox(0, 0, 224, 224), "R")]


def test_boxes_stay_on_the_film_when_they_fit() -> None:
    rad = _film([("kl2_9023348R.webp", False, 200, 250), ("kl1_9003380R.webp", True, 210, 1150)], (900, 1400), True,
                laterality=None)
    for box, _ in guess_knee_boxes(rad):
        assert box.top >= 0 and box.left >= 0
        assert box.top + box.height <= 900 and box.left + box.width <= 1400
