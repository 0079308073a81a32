"""Icon array, joint-space width and the record charts."""
from __future__ import annotations

import numpy as np
import pytest

from kneeai.imaging.jsw import DETECTABLE_CHANGE_MM, compare_min_jsw, jsw_profile
from kneeai.report.icon_array import icon_array_svg, people_out_of_100


@pytest.mark.parametrize(("p", "n"), [(0.0, 0), (0.004, 0), (0.006, 1), (0.234, 23), (0.236, 24), (0.994, 99), (1.0, 100)])
def test_people_out_of_100(p, n):
    assert people_out_of_100(p) == n


def test_icon_array_colours_exactly_n_people():
    svg = icon_array_svg(0.27, affected="#ff0000", unaffected="#00ff00", title="27 <of> 100")
    assert svg.count("<circle") == 100
    assert svg.count('fill="#ff0000"') == 2 * 27 and svg.count('fill="#00ff00"') == 2 * 73
    assert "<title>27 &lt;of&gt; 100</title>" in svg


def _knee(gap_left: int, gap_right: int, size: int = 224) -> np.ndarray:
    """Bright femur above, bright tibia below, a dark gap of the given heights (pixels) per half."""
    img = np.full((size, size), 0.85, np.float32)
    mid = size // 2
    img[mid - gap_left // 2 : mid - gap_left // 2 + gap_left, : size // 2] = 0.15
    img[mid - gap_right // 2 : mid - gap_right // 2 + gap_right, size // 2 :] = 0.15
    return img


def test_jsw_measures_a_known_gap_in_millimetres():
    p = jsw_profile(_knee(10, 10), mm_per_pixel=0.5)
    assert p.min_mm == pytest.approx(5.0, abs=0.5)
    assert np.nanmax(p.width_mm) == pytest.approx(5.0, abs=0.5)


def test_jsw_names_medial_by_laterality():
    img = _knee(6, 14)  # narrow on the image's left
    right = jsw_profile(img, 0.5, "R")  # right knee: medial is on the image's right
    left = jsw_profile(img, 0.5, "L")
    assert right.medial_min_mm == pytest.approx(7.0, abs=0.5) and right.lateral_min_mm == pytest.approx(3.0, abs=0.5)
    assert left.medial_min_mm == pytest.approx(3.0, abs=0.5)
    assert jsw_profile(img, 0.5).medial_min_mm is None


def test_jsw_change_within_noise_is_called_noise():
    assert compare_min_jsw(4.0, 3.6) == (pytest.approx(-0.4), False)
    change, real = compare_min_jsw(4.0, 4.0 - DETECTABLE_CHANGE_MM - 0.1)
    assert real and change < 0
    assert compare_min_jsw(None, 3.0) == (None, False)


def test_blank_image_gives_no_measurement():
    p = jsw_profile(np.full((224, 224), 0.5, np.float32), 0.5)
    assert p.min_mm is None and np.isnan(p.width_mm).all()


def test_two_visits_compare_the_medial_minimum_when_both_know_the_side_else_the_overall_one():
    from kneeai.imaging.jsw import compare_visit_crops

    # A left knee: medial is on the image's left; its gap narrows from 5 mm to 3 mm.
    c = compare_visit_crops(_knee(10, 14), 0.5, "L", _knee(6, 14), 0.5, "L")
    assert c.compartment == "medial" and c.before_mm == pytest.approx(5.0, abs=0.5)
    assert c.change_mm == pytest.approx(-2.0, abs=0.5) and c.beyond_noise
    unknown = compare_visit_crops(_knee(10, 14), 0.5, "L", _knee(9, 14), 0.5, None)
    assert unknown.compartment == "overall" and unknown.change_mm == pytest.approx(-0.5, abs=0.5)
    assert not unknown.beyond_noise


def test_the_grade_the_risk_models_get_follows_one_rule():
    from types import SimpleNamespace

    from kneeai.report.summary import kl_in_force

    graded = SimpleNamespace(probabilities=(0.1, 0.2, 0.4, 0.2, 0.1))
    assert kl_in_force(graded, (3, "lateral view"), 1, "typed") == (3, None)  # an override wins
    assert kl_in_force(graded, None, "2", "typed") == (2, None)
    assert kl_in_force(graded, None, "seven", "typed") == (None, None)  # not a grade: none, never a guess
    assert kl_in_force(graded, None, 2, "image") == (None, (0.1, 0.2, 0.4, 0.2, 0.1))
    assert kl_in_force(None, None, None, "image") == (None, None)
