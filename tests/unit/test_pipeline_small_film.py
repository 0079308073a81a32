"""A whole film exported small passes for one knee crop by its size: refused whole, it is searched
again as a film (kneeai.pipeline.retry_as_film), and a picture that is no knee stays refused."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kneeai.errors import NotAKnee
from kneeai.imaging.localize import is_single_knee
from kneeai.pipeline import grade_radiograph, iter_graded
from kneeai.schemas import Radiograph
from tests.unit.test_localize import _film

# The example knees' own grades (kl2_..., kl3_...), side by side on a square film.
LEGS = [("kl2_9015402R.webp", False, 500, 250), ("kl3_9023348L.webp", True, 500, 750)]


@pytest.fixture(scope="module")
def small_film() -> Radiograph:
    big = _film(LEGS, (1000, 1000), spacing=False, laterality=None).pixels
    small = np.asarray(Image.fromarray(big).resize((500, 500), Image.Resampling.BOX), np.float32)
    return Radiograph(pixels=small, spacing_mm=None, laterality=None, source="test")


def test_a_small_bilateral_film_is_refused_whole_and_graded_as_a_film(small_film):
    assert is_single_knee(small_film)  # 500 px and square: a crop by its size
    whole = grade_radiograph(small_film, kind="crop")
    assert len(whole) == 1 and whole[0].error is not None
    found = grade_radiograph(small_film, kind="auto")
    assert [k.knee.index for k in found] == [1, 2]
    assert [k.knee.laterality for k in found] == ["R", "L"]
    assert [k.knee.laterality_source for k in found] == ["position"] * 2
    assert all(k.error is None for k in found)
    assert [k.result.kl_grade for k in found] == [2, 3]
    # Each box is on its own knee: the left one left of the middle, the right one right of it.
    left, right = (k.knee.box for k in found)
    assert left.left + left.width / 2 < 250 < right.left + right.width / 2


def test_the_archive_stream_retries_a_small_film_too(small_film, tmp_path):
    path = tmp_path / "small_film.png"
    Image.fromarray(np.rint(small_film.pixels * 255).astype(np.uint8)).save(path)
    (graded,) = list(iter_graded([path], kind="auto"))
    assert [k.knee.index for k in graded.knees] == [1, 2] and all(k.error is None for k in graded.knees)
    (as_crop,) = list(iter_graded([path], kind="crop"))
    assert len(as_crop.knees) == 1 and as_crop.knees[0].error is not None


def test_a_small_picture_that_is_no_knee_stays_refused():
    rng = np.random.default_rng(0)
    # Smooth blobs on a flat background: refused whole, and no knee on it as a film either.
    from scipy.ndimage import gaussian_filter

    pixels = np.full((500, 500), 0.1, np.float32)
    pixels[100:400, 80:220] = gaussian_filter(rng.random((300, 140)), 8).astype(np.float32) + 0.4
    pixels[100:400, 280:420] = gaussian_filter(rng.random((300, 140)), 8).astype(np.float32) + 0.4
    rad = Radiograph(pixels=pixels, spacing_mm=None, laterality=None, source="test")
    graded = grade_radiograph(rad, kind="auto")
    assert len(graded) == 1 and graded[0].error is not None


def test_a_refused_image_under_the_minimum_side_is_not_searched_as_a_film(small_film, monkeypatch):
    import kneeai.pipeline as pipeline

    tiny = Radiograph(pixels=np.asarray(Image.fromarray(small_film.pixels).resize((300, 300)), np.float32),
                      spacing_mm=None, laterality=None, source="test")
    searched = []
    monkeypatch.setattr(pipeline, "knees", lambda rad, kind="auto", grader=None: searched.append(kind) or [])
    refused = [pipeline.GradedKnee(None, None, NotAKnee(detail_key="gate.reason.not_knee"))]
    assert pipeline.retry_as_film(tiny, refused) is None and searched == []
    assert pipeline.retry_as_film(small_film, refused) is None and searched == ["film"]


def test_a_small_bilateral_film_accepted_whole_is_still_graded_as_two_knees(small_film):
    import kneeai.pipeline as pipeline

    # As if the gate had let the whole frame pass for one knee (18 of the 97 dev bilateral films at
    # 512 px did): two legs side by side are searched as a film, and two accepted knees win.
    accepted_whole = [pipeline.GradedKnee(None, object(), None)]
    again = pipeline.retry_as_film(small_film, accepted_whole)
    assert again is not None and [k.knee.index for k in again] == [1, 2]
    assert all(k.error is None for k in again)


def test_a_larger_single_knee_crop_accepted_whole_stays_one_knee():
    import kneeai.pipeline as pipeline
    from tests.unit.test_side import EXAMPLES, _grey

    for path in EXAMPLES:
        big = np.asarray(Image.fromarray(_grey(path)).resize((448, 448), Image.Resampling.BICUBIC), np.float32)
        rad = Radiograph(pixels=big, spacing_mm=None, laterality=None, source="test")
        graded = grade_radiograph(rad, kind="auto")
        assert len(graded) == 1 and graded[0].error is None, path.name
        assert pipeline.retry_as_film(rad, graded) is None
