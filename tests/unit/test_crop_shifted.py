"""Shifted crops sliced from one resampled view match crop_knee's own cut of each moved box,
also where the box runs off the film and is edge-padded."""
from __future__ import annotations

import numpy as np
import pytest

from kneeai.config import SETTINGS
from kneeai.imaging.crop import crop_knee, shifted_crops
from kneeai.schemas import CropBox, Radiograph


@pytest.fixture(scope="module")
def film() -> Radiograph:
    # Smooth structure at several scales, so a slice one step off would not pass for the right one.
    y, x = np.mgrid[0:900, 0:700].astype(np.float32)
    px = 0.5 + 0.25 * np.sin(x / 37.0) * np.cos(y / 23.0) + 0.2 * np.sin((x + 2 * y) / 71.0)
    return Radiograph(pixels=np.clip(px, 0, 1).astype(np.float32), spacing_mm=(0.2, 0.2), laterality="L", source="test")


@pytest.mark.parametrize("box", [CropBox(200, 150, 400, 400),   # inside the film
                                 CropBox(-60, 480, 330, 330),    # off the top and right edges
                                 CropBox(610, -20, 301, 301)])   # off the bottom and left, odd side
def test_each_slice_is_the_moved_box_cut_by_crop_knee(film, box):
    size = SETTINGS.input_size
    shifts = [(-1, -1), (-1, 0), (0, 1), (1, 1), (2, -2)]
    out = shifted_crops(film, box, 11, shifts, None)
    assert len(out) == len(shifts)
    for (r, c), crop in zip(shifts, out):
        assert crop.pixels.shape == (size, size) and crop.pixels.dtype == np.float32
        assert crop.box == CropBox(box.top + round(r * 11 * box.height / size), box.left + round(c * 11 * box.width / size),
                                   box.height, box.width)
        assert crop.laterality == "L" and crop.mm_per_pixel == pytest.approx(box.height * 0.2 / size)
        cut = crop_knee(film, crop.box).pixels
        assert np.abs(crop.pixels - cut).mean() < 0.01
    # A slice is told apart from its neighbour's box: one step off is far from the right cut.
    assert np.abs(out[0].pixels - crop_knee(film, out[1].box).pixels).mean() > 0.03
