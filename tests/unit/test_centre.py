"""Centring a knee box on the joint with the gate's density (kneeai.grading.centre)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.grading import centre
from kneeai.schemas import CropBox, Radiograph

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "knees").glob("*.webp"))
PAD = 112  # the knee crop (224 px) sits at (PAD, PAD) of a 448 px film


@pytest.fixture(scope="module")
def films():
    out = []
    for p in EXAMPLES:
        px = np.asarray(Image.open(p).convert("L"), np.float32) / 255
        out.append(Radiograph(pixels=np.pad(px, PAD, mode="reflect"), spacing_mm=None, laterality=None, source="test"))
    return out


def _offset(box: CropBox) -> float:
    return float(np.hypot(box.top - PAD, box.left - PAD)) / box.height


def test_a_box_above_or_below_the_joint_is_brought_back(films):
    before, after = [], []
    for film in films:
        for dy in (-56, 56):  # a quarter of the box side
            start = CropBox(PAD + dy, PAD, 224, 224)
            result = centre.centre_on_joint(film, start)
            assert result.box.height == result.box.width == 224  # the size is kept
            # The box goes to the fitted minimum of the scores, not to a box scored lower than the
            # start (single scores are noisy), so only the move itself is checked per box.
            assert result.moved == (result.box != start)
            assert _offset(result.box) < _offset(start)
            before.append(_offset(start))
            after.append(_offset(result.box))
    assert np.mean(after) < 0.5 * np.mean(before)


def test_a_box_on_the_joint_stays_near_it(films):
    for film in films:
        result = centre.centre_on_joint(film, CropBox(PAD, PAD, 224, 224))
        assert _offset(result.box) <= 0.2


def test_without_a_fitted_density_the_box_is_left_alone(films, monkeypatch):
    from kneeai.grading import gate, joint_scorer

    # No joint scorer shipped, and no gate for the grader it would fall back to.
    monkeypatch.setattr(joint_scorer, "load_joint_scorer", lambda weights_dir=None: None)
    monkeypatch.setattr(gate, "load_gate", lambda grader, weights_dir=None: None)
    box = CropBox(PAD + 56, PAD, 224, 224)
    assert centre.centre_on_joint(films[0], box) == centre.CentredBox(box, False, None, None)


def test_a_single_knee_crop_comes_back_whole(films):
    crop = Radiograph(pixels=films[0].pixels[PAD:PAD + 224, PAD:PAD + 224], spacing_mm=None, laterality="L", source="test")
    assert centre.centred_knee_boxes(crop) == [(CropBox(0, 0, 224, 224), "L")]


def test_centre_benchmark_runs_on_a_small_split(tmp_path):
    import argparse
    import shutil

    from kneeai.bench import centre as bench_centre

    for g in range(5):
        (tmp_path / "val" / str(g)).mkdir(parents=True)
    for p in EXAMPLES[:5]:
        shutil.copy(p, tmp_path / "val" / p.name[2] / p.name)  # kl<grade>_<id><side>.webp
    result = bench_centre.run(argparse.Namespace(data=tmp_path, split="val", every=1, seed=0))
    rows = {r["measure"]: r["value"] for r in result["rows"]}
    assert rows["knees"] == 5
    assert 0.1 <= rows["box offset before (mean)"] <= 0.32
    assert rows["box offset after (mean)"] < rows["box offset before (mean)"]


def _bilateral(films) -> Radiograph:
    # Two knees side by side at one height, as on a standing AP film; the second is moved down
    # by a whole knee so its own search cannot reach the joint.
    left, right = films[0].pixels, films[1].pixels
    film = np.concatenate([left, right], axis=1)
    return Radiograph(pixels=np.pad(film, ((224, 224), (0, 0)), mode="reflect"), spacing_mm=None, laterality=None,
                      source="test")


def test_a_knee_boxed_far_below_its_partner_is_searched_again_from_the_partners_height(films):
    from kneeai.grading.gate import load_gate
    from kneeai.grading.weights import load_grader

    grader = load_grader()
    density = load_gate(grader)
    film = _bilateral(films)
    good = centre.centre_on_joint(film, CropBox(224 + PAD, PAD, 224, 224), "R", grader, density)
    lost = centre.centre_on_joint(film, CropBox(224 + PAD + 224, 448 + PAD, 224, 224), "L", grader, density)
    assert centre.row_offset(good.box, lost.box) > centre.PAIR_MAX_ROW_OFFSET
    fixed = centre._pair_consistent(film, [good, lost], ["R", "L"], grader, density)
    assert fixed[0] == good
    assert abs(fixed[1].box.top - (224 + PAD)) <= 0.2 * 224 and fixed[1].score_after < lost.score_after
    # Boxes already at one height are left as they are.
    assert centre._pair_consistent(film, [good, good], ["R", "L"], grader, density) == [good, good]


def test_a_box_on_the_shaft_of_a_long_leg_film_is_found_on_its_joint(monkeypatch):
    from tests.unit.test_localize import KNEE_PX, _film

    # One knee on a tall film, its joint at row 450; the localiser is made to guess the tibial
    # shaft, 1.5 box sides below the joint, further than the local search reaches.
    rad = _film([("kl2_9015402R.webp", False, 450, 350)], (1600, 700), False, laterality=None)
    side = int(1.2 * KNEE_PX)
    shaft = CropBox(450 + int(1.5 * side) - side // 2, 350 - side // 2, side, side)
    monkeypatch.setattr(centre, "guess_knee_boxes", lambda r, as_film=False: [(shaft, None)])
    monkeypatch.setattr(centre, "detector_boxes", lambda r, found=None: None)
    local = centre.centre_on_joint(rad, shaft)
    assert local.score_after is not None and local.score_after > centre.WIDE_SEARCH_ABOVE
    ((box, _),) = centre.centred_knee_boxes(rad, as_film=True)
    assert abs(box.top + box.height / 2 - 450) < 0.2 * side
    assert box.height == side


def test_a_box_the_local_search_centred_well_is_not_searched_along_the_leg(films, monkeypatch):
    calls = []
    monkeypatch.setattr(centre, "search_leg", lambda *a: calls.append(a) or a[1])
    centre.centred_knee_boxes(_bilateral_at_one_height(films), as_film=True)
    assert calls == []


def _bilateral_at_one_height(films) -> Radiograph:
    film = np.concatenate([films[0].pixels, films[1].pixels], axis=1)
    return Radiograph(pixels=np.pad(film, ((224, 224), (0, 0)), mode="reflect"), spacing_mm=None, laterality=None,
                      source="test")


def test_soft_minimum_goes_to_a_clear_minimum_and_moves_smoothly_between_two_near_equal_dips():
    from kneeai.grading.centre import CENTRE_TEMPERATURE, soft_minimum

    rows, cols = np.array(centre.ROW_SHIFTS), np.array(centre.COL_SHIFTS)
    # One clear minimum, far below the rest: the box goes (almost exactly) there.
    clear = np.ones((rows.size, cols.size))
    clear[5, 2] = 1 - 20 * CENTRE_TEMPERATURE
    r, c = soft_minimum(clear, rows, cols)
    assert r == pytest.approx(rows[5], abs=1e-3) and c == pytest.approx(cols[2], abs=1e-3)
    # Adding a constant to every score changes nothing: only differences matter.
    assert soft_minimum(clear + 3.0, rows, cols) == pytest.approx((r, c))
    # Two dips of equal depth: midway between them.
    two = np.ones_like(clear)
    two[1, 1] = two[5, 1] = 0.5
    assert soft_minimum(two, rows, cols)[0] == pytest.approx((rows[1] + rows[5]) / 2, abs=1e-3)
    # A copy of the film scores one dip a little lower: the best grid point jumps four steps, the
    # soft minimum moves by much less.
    a, b = two.copy(), two.copy()
    a[1, 1] -= 0.01
    b[5, 1] -= 0.01
    jump = abs(rows[np.unravel_index(a.argmin(), a.shape)[0]] - rows[np.unravel_index(b.argmin(), b.shape)[0]])
    assert jump == pytest.approx(0.4)
    assert abs(soft_minimum(a, rows, cols)[0] - soft_minimum(b, rows, cols)[0]) < 0.05


def test_side_columns_are_scored_only_for_the_best_rows(films, monkeypatch):
    scored = []
    real = centre._scores

    def counting(rad, boxes, *args, **kwargs):
        scored.append(list(boxes))
        return real(rad, boxes, *args, **kwargs)

    monkeypatch.setattr(centre, "_scores", counting)
    start = CropBox(PAD + 40, PAD, 224, 224)
    result = centre.centre_on_joint(films[0], start)
    rows, sides = len(centre.ROW_SHIFTS), len(centre.COL_SHIFTS) - 1
    first, second = scored[0], scored[1]
    assert len(first) == rows and all(b.left == start.left for b in first)  # every row, start column
    assert len(second) == centre.SIDE_ROWS * sides and all(b.left != start.left for b in second)
    # The side columns belong to the rows that scored best in the start column.
    with_scores = dict(zip(first, real(films[0], first, None, *centre.joint_scoring(None))))
    best_tops = {b.top for b in sorted(first, key=with_scores.get)[: centre.SIDE_ROWS]}
    assert {b.top for b in second} == best_tops
    # At most one more pass, for the moved box's own score.
    assert len(scored) <= 3 and sum(map(len, scored)) <= rows + centre.SIDE_ROWS * sides + 1
    assert result.box.height == 224


def test_an_unscored_shift_has_no_weight():
    from kneeai.grading.centre import soft_minimum

    rows, cols = np.array(centre.ROW_SHIFTS), np.array(centre.COL_SHIFTS)
    scores = np.full((rows.size, cols.size), np.inf)
    scores[:, 1] = np.linspace(1.0, 1.6, rows.size)
    scores[0, 0] = 0.9  # the only scored side column
    r, c = soft_minimum(scores, rows, cols)
    finite = np.isfinite(scores)
    w = np.where(finite, np.exp(-(np.where(finite, scores, 0) - 0.9) / centre.CENTRE_TEMPERATURE), 0)
    w /= w.sum()
    assert r == pytest.approx(float(w.sum(1) @ rows)) and c == pytest.approx(float(w.sum(0) @ cols))
    assert c < 0  # pulled only towards the one scored side shift


def test_a_box_as_wide_as_its_film_is_centred_in_rows_only(films):
    # Column shifts are clamped at the film's sides onto the box itself: nothing is left to score
    # for the side columns, and the box still moves in rows only.
    film = films[0]
    strip = Radiograph(pixels=film.pixels[:, PAD : PAD + 224], spacing_mm=None, laterality=None, source="test")
    result = centre.centre_on_joint(strip, CropBox(PAD + 56, 0, 224, 224))
    assert result.box.left == 0 and result.box.height == 224
    assert abs(result.box.top - PAD) < abs(56)
