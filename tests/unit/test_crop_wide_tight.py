"""A wide knee crop cut tight above and below the joint (the knee's width fills it, as 300 x 162
crops from one outside clinic did) is graded as a square of the knee's width, its missing rows
mirrored, instead of as a square of its height that shows half a joint (kneeai.grading.centre.crop_box)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.grading.centre import WIDE_KNEE_RATIO
from kneeai.imaging.crop import crop_knee
from kneeai.pipeline import grade_radiograph
from kneeai.schemas import CropBox, Radiograph

ROOT = Path(__file__).resolve().parents[2]
# Example knees whose tight crop the detector reads as a knee wider than the crop is high.
WIDE_READ = ["kl0_9006140L.webp", "kl1_9003380L.webp", "kl1_9003380R.webp", "kl4_9070207R.webp", "kl4_9115049L.webp"]


def _rad(px: np.ndarray) -> Radiograph:
    return Radiograph(pixels=np.ascontiguousarray(px, dtype=np.float32), spacing_mm=None, laterality=None, source="t")


@pytest.mark.parametrize("name", WIDE_READ)
def test_a_crop_cut_tight_above_and_below_the_joint_is_graded_as_the_whole_knee(name):
    px = np.asarray(Image.open(ROOT / "examples" / "knees" / name).convert("L"), np.float32) / 255
    tight = _rad(px[52:173])  # 121 x 224: the rows around the joint line, the knee's whole width
    (knee,) = grade_radiograph(tight)
    box = knee.knee.box
    assert box.height == box.width >= WIDE_KNEE_RATIO * 121
    assert box.top < 0 and box.top + box.height > 121  # it reaches above and below the crop
    assert knee.error is None, knee.error
    (whole,) = grade_radiograph(_rad(px))
    assert knee.result.kl_grade == whole.result.kl_grade


def test_rows_off_the_image_are_mirrored_and_columns_keep_the_edge_value():
    px = np.tile(np.arange(4, dtype=np.float32)[:, None] / 4, (1, 6))  # rows 0, .25, .5, .75
    px[:, 0] = 0.9
    rad = _rad(px)
    box = CropBox(top=-2, left=-1, height=8, width=8)
    mirrored = crop_knee(rad, box, reflect_rows=True).pixels
    edged = crop_knee(rad, box).pixels
    from kneeai.imaging.crop import _region

    region = _region(rad, box, reflect_rows=True)
    assert np.allclose(region[:, 2], [0.5, 0.25, 0.0, 0.25, 0.5, 0.75, 0.5, 0.25])  # rows mirrored, not repeated
    assert np.allclose(region[:, 0], region[:, 1])  # the column left of the image repeats its edge
    assert np.allclose(_region(rad, box)[:2, 2], 0.0)  # without: the edge row repeated
    assert not np.allclose(mirrored, edged)
