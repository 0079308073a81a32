"""A knee's side from its anatomy (kneeai.imaging.side), where neither the header nor the knee's
position on a bilateral film gives it."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.config import SETTINGS
from kneeai.imaging import side
from kneeai.pipeline import knees
from kneeai.schemas import Radiograph
from tests.unit.test_localize import _film

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "knees").glob("*.webp"))


def _grey(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), np.float32) / 255.0


def test_the_shipped_model_is_listed_with_its_measured_accuracy():
    entry = json.loads((SETTINGS.weights_dir / "manifest.json").read_text())[side.SIDE_FILE]
    assert entry["kind"] == "side_model" and entry["min_confidence"] == side.SIDE_MIN_CONFIDENCE
    assert entry["val"]["accuracy_when_given"] >= 0.97
    assert side.load_side_model() is not None


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_knee_gets_its_own_side_and_its_mirror_image_the_other(path):
    truth = path.stem[-1]
    other = "L" if truth == "R" else "R"
    pixels = _grey(path)
    assert side.anatomical_side(pixels) in (truth, None)
    assert side.anatomical_side(pixels[:, ::-1]) in (other, None)


def test_most_example_knees_are_given_a_side():
    given = [side.anatomical_side(_grey(p)) for p in EXAMPLES]
    assert sum(g is not None for g in given) >= 6


def test_a_single_knee_film_without_a_header_side_takes_it_from_the_anatomy():
    name = next(p.name for p in EXAMPLES if side.anatomical_side(_grey(p)) == p.stem[-1])
    film = _film([(name, False, 450, 350)], (1000, 700), False, laterality=None)
    (knee,) = knees(film, "film")
    assert (knee.laterality, knee.laterality_source) == (name[-6], "anatomy")
    assert knee.crop.laterality == name[-6]  # the explanation names medial and lateral from it
    (mirrored,) = knees(replace(film, pixels=film.pixels[:, ::-1].copy()), "film")
    assert mirrored.laterality == ("L" if name[-6] == "R" else "R")


def test_the_header_and_the_position_win_over_the_anatomy():
    name = next(p.name for p in EXAMPLES if side.anatomical_side(_grey(p)) == "R")
    film = _film([(name, False, 450, 350)], (1000, 700), False, laterality="L")
    (knee,) = knees(film, "film")
    assert (knee.laterality, knee.laterality_source) == ("L", "dicom")
    crop = Radiograph(pixels=_grey(SETTINGS.examples_dir / "knees" / name), spacing_mm=None, laterality=None, source="t")
    assert [(k.laterality, k.laterality_source) for k in knees(crop)] == [("R", "anatomy")]


def test_a_side_model_that_fails_its_check_is_not_used(tmp_path, caplog):
    shutil.copy(SETTINGS.weights_dir / "manifest.json", tmp_path / "manifest.json")
    (tmp_path / side.SIDE_FILE).write_bytes(b"tampered")
    side.load_side_model.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            assert side.load_side_model(tmp_path) is None
        assert side.SIDE_FILE in caplog.text
    finally:
        side.load_side_model.cache_clear()
