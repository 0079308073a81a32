"""Blank film borders are trimmed before the knees are found, so a border changes no crop."""
from __future__ import annotations

import numpy as np
from PIL import Image

from kneeai.imaging.border import content_box
from kneeai.pipeline import knees
from kneeai.schemas import CropBox, Radiograph
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples" / "knees").glob("*.webp"))


def _film() -> np.ndarray:
    pair = [np.asarray(Image.open(p).convert("L"), np.float32) / 255 for p in EXAMPLES[:2]]
    return np.pad(np.concatenate(pair, axis=1), ((300, 300), (40, 40)), mode="reflect")


def test_the_content_box_is_the_film_inside_its_blank_margins():
    film = _film()
    assert content_box(film) == CropBox(0, 0, *film.shape)
    bordered = np.pad(film, ((37, 90), (64, 11)), constant_values=0.0)
    bordered[:20, :] = 1.0  # a white strip above the black one: blank too
    box = content_box(bordered)
    # Block edges may leave a few border pixels in, never take film out.
    assert 0 <= 37 - box.top <= 2 * 3 and 0 <= 64 - box.left <= 2 * 3
    assert box.top <= 37 and box.left <= 64
    assert box.top + box.height >= 37 + film.shape[0] and box.left + box.width >= 64 + film.shape[1]
    assert box.height <= film.shape[0] + 12 and box.width <= film.shape[1] + 12


def test_a_mostly_blank_image_is_not_trimmed_past_the_cap():
    blank = np.zeros((600, 600), np.float32)
    box = content_box(blank)
    assert box.height >= 600 * 0.2 and box.width >= 600 * 0.2


def test_a_black_border_moves_the_boxes_by_its_width_and_leaves_the_crops_alone():
    film = _film()
    plain = knees(Radiograph(pixels=film, spacing_mm=None, laterality=None, source="test"), "film")
    border = np.pad(film, 64, constant_values=0.0)
    framed = knees(Radiograph(pixels=border, spacing_mm=None, laterality=None, source="test"), "film")
    assert len(plain) == len(framed) == 2
    for a, b in zip(plain, framed):
        assert (b.box.top - a.box.top, b.box.left - a.box.left) == (64, 64) and b.box.height == a.box.height
        assert b.crop.box == b.box
        assert np.abs(a.crop.pixels - b.crop.pixels).max() < 1e-5


def test_a_box_the_user_keeps_is_cut_exactly_as_the_pipeline_cut_it():
    from kneeai.pipeline import crop_on_film

    rad = Radiograph(pixels=np.pad(_film(), 50, constant_values=1.0), spacing_mm=None, laterality=None, source="test")
    for k in knees(rad, "film"):
        again = crop_on_film(rad, k.box, k.laterality)
        assert again.box == k.box and np.array_equal(again.pixels, k.crop.pixels)
