"""The learned knee detector (kneeai.grading.detector) and what trains it (kneeai.training.detector_fit)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kneeai.grading import detector
from kneeai.grading.detector import DETECTOR_SIDE, DETECTOR_STRIDE, Detection, decode, detector_input

fit = pytest.importorskip("kneeai.training.detector_fit")


def _logits(heat: np.ndarray) -> np.ndarray:
    h = np.clip(heat, 1e-6, 1 - 1e-6)
    return np.log(h / (1 - h))


def _head_output(knees_in: np.ndarray) -> np.ndarray:
    """What a perfect head would output for knees in input pixels: the training targets as logits."""
    heat, regs = fit.targets(knees_in)
    out = np.zeros((4, fit.GRID, fit.GRID), np.float32)
    out[0] = _logits(heat * 0.999)
    for r, c, dy, dx, logside in regs:
        out[1:, int(r), int(c)] = (dy, dx, logside)
    return out


def test_decoding_the_training_targets_gives_the_knees_back_in_film_pixels():
    knees = np.array([[150.3, 97.8, 140.0], [161.0, 290.2, 132.0]], np.float32)
    scale = 2.5  # film pixels per input pixel
    found = decode(_head_output(knees), scale)
    assert len(found) == 2
    got = sorted(found, key=lambda d: d.col)
    for d, (cy, cx, s) in zip(got, knees):
        assert d.row == pytest.approx(cy * scale, abs=0.01)
        assert d.col == pytest.approx(cx * scale, abs=0.01)
        assert d.side == pytest.approx(s * scale, rel=1e-4)


def test_decoding_keeps_at_most_two_knees_above_the_threshold_and_none_twice():
    out = np.zeros((4, fit.GRID, fit.GRID), np.float32)
    out[0] = -10.0
    out[3] = math.log(0.3)
    out[0, 5, 5], out[0, 5, 7] = 3.0, 2.0  # two peaks 2 cells apart: one knee 0.3 * 384 px wide
    out[0, 15, 15], out[0, 20, 3] = 1.0, 0.5
    out[0, 2, 20] = -1.0  # sigmoid 0.27: below the threshold
    found = decode(out, 1.0)
    assert [(round(d.row), round(d.col)) for d in found] == [(88, 88), (248, 248)]
    assert found[0].score > found[1].score
    assert decode(np.full((4, fit.GRID, fit.GRID), -10.0, np.float32), 1.0) == []


def test_a_detection_is_a_square_box_on_its_centre():
    box = Detection(row=300.0, col=200.0, side=101.0, score=0.9).box()
    assert box.height == box.width == 101
    assert (box.top + box.height / 2, box.left + box.width / 2) == pytest.approx((300, 200), abs=1)


def test_the_input_is_the_film_at_the_detectors_side_padded_black():
    film = np.linspace(0, 4000, 1000 * 500, dtype=np.float32).reshape(1000, 500)  # 12-bit-like range
    x, scale = detector_input(film)
    assert x.shape == (1, 3, DETECTOR_SIDE, DETECTOR_SIDE)
    assert scale == pytest.approx(1000 / DETECTOR_SIDE)
    grey = x[0, 0] * 0.229 + 0.485  # back to [0, 1]
    assert grey[:, :192].max() == pytest.approx(1.0, abs=1e-5) and grey[:, :192].min() == pytest.approx(0.0, abs=1e-5)
    assert np.abs(grey[:, 193:]).max() < 1e-5  # the padding right of the film is black
    assert np.allclose(x[0, 0], x[0, 0].T.T)


def _dots(shape, knees) -> np.ndarray:
    img = np.zeros(shape, np.float32)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    for cy, cx, _ in knees:
        img += np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * 4.0**2))
    return img


def _peaks_near(img: np.ndarray, knees: np.ndarray, tol: float) -> bool:
    for cy, cx, _ in knees:
        r0, c0 = int(round(cy)), int(round(cx))
        win = img[max(r0 - 12, 0) : r0 + 13, max(c0 - 12, 0) : c0 + 13]
        r, c = np.unravel_index(np.argmax(win), win.shape)
        if math.hypot(r + max(r0 - 12, 0) - cy, c + max(c0 - 12, 0) - cx) > tol or win.max() < 0.5:
            return False
    return True


@pytest.mark.parametrize("degrees", [-12.0, -5.0, 7.5, 12.0])
def test_rotation_moves_the_knee_centres_with_the_image(degrees):
    knees = np.array([[100.0, 80.0, 60.0], [120.0, 230.0, 60.0]])
    img = _dots((240, 320), knees)
    out, moved = fit._rotate(img, knees, degrees)
    assert _peaks_near(out, moved, tol=1.5)
    assert not _peaks_near(out, knees, tol=1.5)  # they did move


def test_reframing_keeps_whole_knees_and_drops_cut_off_ones():
    knees = np.array([[200.0, 150.0, 120.0], [210.0, 450.0, 120.0]])
    img = _dots((400, 600), knees)
    rng = np.random.default_rng(0)
    seen_one = False
    for _ in range(40):
        out, kept = fit._reframe(img, knees, rng)
        assert _peaks_near(out, kept, tol=1.0)
        h, w = out.shape
        for cy, cx, s in kept:  # a kept knee stands well inside
            assert min(cy, h - cy, cx, w - cx) >= 0.3 * s - 1e-6
        seen_one |= len(kept) == 1
    assert seen_one


def test_augmented_views_keep_knee_boxes_on_the_image():
    knees = np.array([[200.0, 150.0, 120.0], [210.0, 450.0, 120.0]])
    img = 0.2 + 0.6 * _dots((400, 600), knees)
    rng = np.random.default_rng(3)
    for _ in range(30):
        out, kept = fit.augmented(img, knees, rng)
        assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
        for cy, cx, _s in kept:
            assert 0 <= cy < out.shape[0] and 0 <= cx < out.shape[1]


def test_matching_counts_found_missed_and_extra_knees():
    ref = np.array([[100.0, 100.0, 80.0], [100.0, 300.0, 80.0]])
    found = [Detection(105, 102, 84, 0.9), Detection(300, 300, 80, 0.6)]
    m = fit.match(found, ref)
    assert (m["found"], m["extra"], m["count_right"]) == (1, 1, False)
    assert m["offsets"] == [pytest.approx(math.hypot(5, 2) / 80)]
    assert fit.match([Detection(100, 300, 80, 0.9), Detection(100, 100, 80, 0.8)], ref)["count_right"]


def test_without_a_shipped_detector_the_profiles_give_the_start_boxes(tmp_path, monkeypatch):
    detector.load_detector.cache_clear()
    monkeypatch.setattr(detector, "load_detector", lambda weights_dir=None: None)
    assert detector.detect_knees(np.zeros((500, 500), np.float32)) is None


def test_grid_and_stride_fit_the_input():
    assert fit.GRID * DETECTOR_STRIDE == DETECTOR_SIDE


def test_a_knee_cut_out_as_a_crop_keeps_its_centre_and_side():
    knees = np.array([[200.0, 150.0, 120.0], [210.0, 450.0, 120.0]])
    img = _dots((400, 600), knees)
    rng = np.random.default_rng(5)
    for _ in range(30):
        out, kept = fit._knee_crop(img, knees, rng)
        assert len(kept) >= 1
        assert _peaks_near(out, kept, tol=1.0)
        assert set(kept[:, 2]) == {120.0}
        assert out.shape != img.shape  # a crop, not the film


# ---------------------------------------------------------------------------------------------- #
# The detector's boxes beside the profiles' (kneeai.grading.centre).

from kneeai.grading import centre  # noqa: E402
from kneeai.grading.centre import CentredBox  # noqa: E402
from kneeai.schemas import CropBox, Radiograph  # noqa: E402


def _film(laterality=None, meta=None) -> Radiograph:
    px = np.random.default_rng(0).random((600, 1000)).astype(np.float32)
    return Radiograph(pixels=px, spacing_mm=None, laterality=laterality, source="test", meta=meta or {})


def test_the_detectors_knees_come_from_the_viewers_left_with_their_sides(monkeypatch):
    # Best first, as decode returns them: the patient's left knee (viewer's right) scored higher.
    found = [Detection(310.0, 760.0, 200.0, 0.9), Detection(300.0, 240.0, 210.0, 0.8)]
    monkeypatch.setattr(detector, "detect_knees", lambda px: found)
    boxes = centre.detector_boxes(_film())
    assert [lat for _, lat in boxes] == ["R", "L"]
    assert boxes[0][0] == CropBox(195, 135, 210, 210) and boxes[1][0] == CropBox(210, 660, 200, 200)
    # The columns run towards the patient's right: the viewer's left knee is the left one.
    flipped = centre.detector_boxes(_film(meta={"PatientOrientation": "R\\F"}))
    assert [lat for _, lat in flipped] == ["L", "R"]


def test_a_header_naming_one_knee_keeps_the_detectors_best_knee(monkeypatch):
    found = [Detection(310.0, 760.0, 200.0, 0.9), Detection(300.0, 240.0, 210.0, 0.8)]
    monkeypatch.setattr(detector, "detect_knees", lambda px: found)
    assert centre.detector_boxes(_film(laterality="L")) == [(CropBox(210, 660, 200, 200), "L")]
    assert len(centre.detector_boxes(_film(laterality="L", meta={"ImageLaterality": "B"}))) == 2


def test_a_box_past_the_films_edge_is_slid_back_onto_it(monkeypatch):
    monkeypatch.setattr(detector, "detect_knees", lambda px: [Detection(50.0, 980.0, 200.0, 0.9)])
    ((box, _),) = centre.detector_boxes(_film())
    assert box == CropBox(0, 800, 200, 200)


def test_without_a_shipped_detector_there_are_no_detector_boxes(monkeypatch):
    monkeypatch.setattr(detector, "detect_knees", lambda px: None)
    assert centre.detector_boxes(_film()) is None


def _boxes(*centres, side=200):
    return [(CropBox(int(r - side / 2), int(c - side / 2), side, side), lat) for (r, c), lat in zip(centres, ("R", "L"))]


def test_the_detector_agrees_with_the_profiles_on_as_many_knees_near_the_same_places():
    profiles = _boxes((300, 250), (310, 750))
    assert centre._agree(profiles, _boxes((330, 260), (290, 740)))
    assert not centre._agree(profiles, _boxes((300, 250)))  # one knee missed
    assert not centre._agree(profiles, _boxes((300, 250), (310 + 0.4 * 200, 750)))  # on the tibial shaft


def _set(*scores):
    return [(CentredBox(CropBox(0, 100 * i, 50, 50), True, None, s), "R") for i, s in enumerate(scores)]


def test_the_joint_scorer_chooses_between_the_two_proposals():
    # A knee the scorer would refuse loses, however many knees.
    assert centre._better(_set(0.7, 1.4), _set(0.8)) == _set(0.8)
    # Then more knees win: a second knee the scorer accepts is a knee.
    assert centre._better(_set(0.6), _set(0.7, 0.9)) == _set(0.7, 0.9)
    # Then the more knee-like set.
    assert centre._better(_set(0.8, 0.9), _set(0.6, 0.7)) == _set(0.6, 0.7)
    assert centre._better(_set(0.6, 0.7), _set(0.8, 0.9)) == _set(0.6, 0.7)
    # Without scores, or with nothing detected, the profiles' set stays.
    assert centre._better(_set(None), _set(0.5)) == _set(None)
    assert centre._better(_set(0.9), []) == _set(0.9)


def test_films_where_the_two_agree_are_centred_from_the_profiles_only(monkeypatch):
    rad = _film()
    centred = []
    monkeypatch.setattr(centre, "joint_scoring", lambda grader=None: (None, None))
    monkeypatch.setattr(centre, "guess_knee_boxes", lambda r, as_film=False: _boxes((300, 250), (310, 750)))
    monkeypatch.setattr(centre, "_centred", lambda r, guesses, g, d: centred.append(guesses) or
                        [(CentredBox(b, False, None, 0.5), lat) for b, lat in guesses])
    monkeypatch.setattr(centre, "detector_boxes", lambda r, found=None: _boxes((320, 260), (300, 760)))
    assert centre.centred_knee_boxes(rad, as_film=True) == _boxes((300, 250), (310, 750))
    assert len(centred) == 1
    monkeypatch.setattr(centre, "detector_boxes", lambda r, found=None: _boxes((300, 250)))
    centre.centred_knee_boxes(rad, as_film=True)
    assert len(centred) == 3  # they disagree: both centred


# ---------------------------------------------------------------------------------------------- #
# The shipped detector, on films built from the example knees (tests/unit/test_localize.py).


@pytest.mark.parametrize("legs, shape", [
    ([("kl2_9015402R.webp", False, 360, 330), ("kl3_9023348L.webp", True, 560, 1080)], (900, 1400)),
    ([("kl2_9015402R.webp", False, 450, 350)], (1600, 700)),
    ([("kl4_9070207R.webp", False, 700, 420), ("kl0_9006140L.webp", True, 690, 1250)], (1300, 1700)),
])
def test_the_shipped_detector_finds_every_knee_of_a_film_and_no_more(legs, shape):
    from tests.unit.test_localize import KNEE_PX, _film

    assert detector.load_detector() is not None, "weights/knee_detector.onnx is shipped"
    found = detector.detect_knees(_film(legs, shape, False, laterality=None).pixels)
    assert len(found) == len(legs)
    side = 1.2 * KNEE_PX  # the film path's box: 1.2 leg widths
    for (_, _, row, col), d in zip(sorted(legs, key=lambda g: g[3]), sorted(found, key=lambda d: d.col)):
        assert math.hypot(d.row - row, d.col - col) < 0.15 * side
        assert 0.75 < d.side / side < 1.33


def test_the_shipped_detector_finds_no_knee_on_a_blank_or_noise_image():
    rng = np.random.default_rng(0)
    assert detector.detect_knees(np.zeros((800, 1000), np.float32)) == []
    assert detector.detect_knees(rng.random((800, 1000)).astype(np.float32)) == []
