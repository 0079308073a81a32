"""A DICOM header that names one knee on a film that shows two (kneeai.pipeline.knees)."""
from __future__ import annotations

import pytest

from kneeai.grading import detector, marker
from kneeai.grading.centre import shows_two_knees
from kneeai.grading.detector import Detection


def _bilateral(**kwargs):
    from tests.unit.test_localize import BILATERAL, _film

    return _film(BILATERAL, (900, 1400), False, **kwargs)


def _single(**kwargs):
    from tests.unit.test_localize import _film

    return _film([("kl1_9003380L.webp", False, 560, 420)], (1100, 900), False, **kwargs)


@pytest.fixture(autouse=True)
def no_markers(monkeypatch):
    monkeypatch.setattr(marker, "read_markers", lambda px: [])


def test_the_shipped_detector_and_the_profile_agree_on_how_many_knees_a_film_shows():
    assert shows_two_knees(_bilateral(laterality="L"))
    assert not shows_two_knees(_single(laterality="L"))


@pytest.mark.parametrize("named", ["R", "L"])
def test_a_bilateral_film_whose_header_names_one_knee_gives_both_knees_sided_by_position(named):
    from kneeai.pipeline import knees

    got = [(k.index, k.laterality, k.laterality_source) for k in knees(_bilateral(laterality=named), "film")]
    assert got == [(1, "R", "position"), (2, "L", "position")]


def test_a_single_knee_film_keeps_its_headers_side():
    from kneeai.pipeline import knees

    got = [(k.laterality, k.laterality_source) for k in knees(_single(laterality="L"), "film")]
    assert got == [("L", "dicom")]


def test_the_header_stands_unless_the_detector_too_finds_two_knees(monkeypatch):
    from kneeai.pipeline import knees

    # Two legs in the profile but one detection (say the other knee is cut by the collimator): the
    # header's one knee is graded, as before.
    monkeypatch.setattr(detector, "detect_knees", lambda px: [Detection(360.0, 330.0, 300.0, 0.9)])
    got = [(k.laterality, k.laterality_source) for k in knees(_bilateral(laterality="R"), "film")]
    assert got == [("R", "dicom")]
    # Without a shipped detector there is nothing to overrule the header with.
    monkeypatch.setattr(detector, "detect_knees", lambda px: None)
    assert len(knees(_bilateral(laterality="R"), "film")) == 1


@pytest.mark.parametrize("named, n", [("R", 2), (None, 2)])
def test_the_detector_runs_once_a_film(monkeypatch, named, n):
    from kneeai.pipeline import knees

    calls = []
    real = detector.detect_knees
    monkeypatch.setattr(detector, "detect_knees", lambda px: calls.append(px.shape) or real(px))
    assert len(knees(_bilateral(laterality=named), "film")) == n
    assert len(calls) == 1
