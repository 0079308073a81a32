"""Knee crops taller than wide (portrait, or clipped at a film's side) are graded as crops, and a wide
crop showing the edge of the other knee is not a film (kneeai.imaging.localize.is_single_knee)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.imaging.localize import is_single_knee
from kneeai.pipeline import knees
from kneeai.schemas import Radiograph

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "knees").glob("*.webp"))
SIDE = 224


def _knee(i: int = 0) -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES[i]).convert("L"), np.float32) / 255


def _portrait(px: np.ndarray, above: int, below: int) -> Radiograph:
    # Reflect-padded along the long side only: more femur and tibia, as a portrait crop shows.
    pad = (above, below)
    return Radiograph(pixels=np.pad(px, (pad, (0, 0)), mode="reflect"), spacing_mm=None, laterality=None, source="t")


@pytest.mark.parametrize("above", [80, 40, 120])
def test_a_portrait_crop_is_one_knee_centred_on_its_joint(above: int) -> None:
    rad = _portrait(_knee(), above, 160 - above)  # 384 x 224: 1.71:1, taken for a film before
    assert is_single_knee(rad)
    (knee,) = knees(rad)
    assert knee.neighbours is None  # taken as given, not searched as a film
    box = knee.box
    assert box.height == box.width
    true_centre = above + SIDE / 2
    # Centred on the knee within a sixth of its side (crop_box's squares, then the joint search).
    assert abs(box.top + box.height / 2 - true_centre) < box.height / 6
    assert abs(box.height - SIDE) <= SIDE / 4


def test_an_image_more_than_twice_as_tall_as_wide_is_a_film() -> None:
    rad = _portrait(_knee(), 0, 240)  # 464 x 224: 2.07:1, like a long-leg film exported small
    assert not is_single_knee(rad)


def _canvas(h: int, w: int) -> np.ndarray:
    return np.full((h, w), 0.04, np.float32)


def test_a_wide_crop_showing_the_edge_of_the_other_knee_is_one_knee() -> None:
    # One whole knee, a dark gap, and the first 84 columns of the other knee at the right edge: as a
    # wide crop cut from a bilateral film looks (bench crops: 2.8% of 1.85:1 crops were taken for films).
    px = _canvas(SIDE, 414)
    px[:, 30:254] = _knee(0)
    px[:, 330:] = _knee(1)[:, :84]
    rad = Radiograph(pixels=px, spacing_mm=None, laterality=None, source="t")
    assert is_single_knee(rad)


def test_two_whole_knees_side_by_side_are_still_a_small_film() -> None:
    small = np.asarray(Image.fromarray(_knee(0)).resize((140, 140)), np.float32)
    other = np.asarray(Image.fromarray(_knee(1)).resize((140, 140)), np.float32)
    px = _canvas(160, 320)
    px[10:150, 10:150], px[10:150, 170:310] = small, other
    rad = Radiograph(pixels=px, spacing_mm=None, laterality=None, source="t")
    assert not is_single_knee(rad)


@pytest.mark.parametrize("aspect", [1.3, 1.6, 1.85])
def test_squares_tried_on_a_non_square_crop_pad_at_most_a_quarter(aspect: float, monkeypatch) -> None:
    from kneeai.grading import centre

    tried = []
    real = centre._scores
    monkeypatch.setattr(centre, "_scores", lambda rad, boxes, *a, **k: tried.append(list(boxes)) or real(rad, boxes, *a, **k))
    px = _knee()
    extra = int(round(SIDE * aspect)) - SIDE
    wide = np.pad(px, ((0, 0), (extra // 2, extra - extra // 2)), mode="reflect")
    rad = Radiograph(pixels=wide, spacing_mm=None, laterality=None, source="t")
    box = centre.crop_box(rad)
    candidates = tried[0]
    assert all((b.height - SIDE) / b.height <= centre.MAX_CROP_PADDING for b in candidates)
    assert any(b.height == SIDE for b in candidates)  # the short side's square is always tried
    # A 1.3:1 crop still tries its long side's square (23% padding); a 1.85:1 one does not (46%).
    assert any(b.height == wide.shape[1] for b in candidates) == (aspect == 1.3)
    # The knee is found: the box is centred on it within a sixth of a side.
    assert abs(box.left + box.width / 2 - wide.shape[1] / 2) < box.width / 6
