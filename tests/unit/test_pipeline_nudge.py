"""A knee cut from a film is graded as the mean of its box and eight nudged copies; a crop taken
whole is graded as given; the Grade page's boxes are graded exactly as the pipeline's."""
from __future__ import annotations

import numpy as np
import pytest

from kneeai.config import SETTINGS
from kneeai.grading.predict import _forward, _softmax, grade_knees
from kneeai.grading.weights import load_grader
from kneeai.pipeline import NUDGE, NUDGES, crop_on_film, grade_radiograph, grade_user_crops, knees, nudged_crops
from kneeai.schemas import CropBox, Radiograph
from tests.unit.test_localize import _film

LEGS = [("kl2_9015402R.webp", False, 500, 250), ("kl3_9023348L.webp", True, 500, 750)]


@pytest.fixture(scope="module")
def film() -> Radiograph:
    # A 10% black frame, so the knees are cut on the film without its margins.
    base = _film(LEGS, (1000, 1000), spacing=False, laterality=None)
    return Radiograph(pixels=np.pad(base.pixels, 100), spacing_mm=None, laterality=None, source="test")


def test_a_film_knee_is_graded_over_its_box_and_eight_nudged_copies(film):
    grader = load_grader()
    found = knees(film, "film", grader)
    graded = grade_radiograph(film, kind="film", grader=grader)
    assert len(found) == len(graded) == 2
    size = SETTINGS.input_size
    step = round(NUDGE * size)
    assert abs(step / size - NUDGE) < 0.005  # whole pixels of the network's input, close to NUDGE
    assert sorted(NUDGES) == [(r, c) for r in (-1, 0, 1) for c in (-1, 0, 1) if (r, c) != (0, 0)]
    for knee, g in zip(found, graded):
        b = knee.box
        (nudged,) = nudged_crops(film, [(b, knee.laterality)])
        for (r, c), n in zip(NUDGES, nudged):
            moved = CropBox(b.top + round(r * step * b.height / size), b.left + round(c * step * b.width / size),
                            b.height, b.width)
            assert n.box == moved
            # Sliced from one resampled view, each copy is the crop the Grade page would cut for
            # that box (crop_on_film), to within the rounding of the box to whole film pixels.
            cut = crop_on_film(film, moved, knee.laterality)
            assert np.abs(n.pixels - cut.pixels).mean() < 0.01
        crops = [knee.crop] + nudged
        assert not grader.flip_average  # the shipped grader grades its own view (its card)
        expected = _softmax(_forward(crops, grader).plain / np.float32(grader.temperature)).mean(0)
        np.testing.assert_allclose(g.result.probabilities, expected, atol=1e-5)
        independent = [crop_on_film(film, n.box, knee.laterality) for n in nudged]
        cut_mean = _softmax(_forward([knee.crop] + independent, grader).plain / np.float32(grader.temperature)).mean(0)
        np.testing.assert_allclose(g.result.probabilities, cut_mean, atol=0.02)
        # ... which is not simply its own box's grade.
        own = _softmax(_forward(crops[:1], grader).plain / np.float32(grader.temperature))[0]
        assert np.abs(np.asarray(g.result.probabilities) - own).max() > 1e-4


def test_the_grade_page_grades_the_pipelines_boxes_to_the_same_numbers(film):
    graded = grade_radiograph(film, kind="film")
    crops = [crop_on_film(film, k.knee.box, k.knee.laterality) for k in graded]
    page = grade_user_crops(crops, film)
    assert not page.errors
    for i, k in enumerate(graded):
        np.testing.assert_allclose(page.results[i].probabilities, k.result.probabilities, atol=1e-6)


def test_a_crop_taken_whole_has_no_nudged_copies_and_keeps_its_own_grade():
    from kneeai.grading.predict import grade_batch
    from kneeai.io import load_radiograph
    from tests.unit.test_localize import KNEES

    rad = load_radiograph((KNEES / "kl2_9015402R.webp").read_bytes())
    whole = CropBox(0, 0, *rad.shape)
    assert nudged_crops(rad, [(whole, None), (None, None)]) == [[], []]
    (g,) = grade_radiograph(rad, kind="crop")
    (own,) = grade_batch([g.knee.crop])
    assert g.result.probabilities == own.probabilities
    # Nudged copies given explicitly do change the grade's probabilities, and only for that knee.
    inner = CropBox(20, 20, rad.shape[0] - 40, rad.shape[1] - 40)
    (ns,) = nudged_crops(rad, [(inner, None)])
    assert len(ns) == 8 and all(c.pixels.shape == g.knee.crop.pixels.shape for c in ns)
    a, b = grade_knees([g.knee.crop, g.knee.crop], [rad, rad], neighbours=[ns, []], check_gate=False)
    assert a.probabilities != b.probabilities and b.probabilities == own.probabilities
