"""Negative images (bone dark) are refused with their own reason (kneeai.grading.polarity)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.grading import gate, polarity
from kneeai.grading.polarity import NEGATIVE_THRESHOLD, load_polarity
from kneeai.pipeline import upright
from kneeai.schemas import KneeCrop

KNEES = sorted((Path(__file__).resolve().parents[2] / "examples" / "knees").glob("*.webp"))


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), np.float32) / 255.0


def _crop(x: np.ndarray) -> KneeCrop:
    return KneeCrop(pixels=x, laterality=None, box=None)


def test_the_network_is_shipped_and_gives_a_knee_and_its_negative_opposite_answers():
    reader = load_polarity()
    assert reader is not None and reader.model_id.startswith("polarity-")
    for path in KNEES[:3]:
        x = _pixels(path)
        p, q = reader(x), reader(1.0 - x)
        assert p < 0.1 < 0.9 < q
        assert p + q == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("path", KNEES, ids=lambda p: p.stem)
def test_a_negative_handed_to_the_gate_is_refused_never_graded_nor_called_a_prosthesis(path):
    # The pipeline turns negatives back before the gate; a crop handed to the gate directly is
    # refused: as a negative, or, where the density already finds it unlike a knee, as that.
    x = _pixels(path)
    assert gate.check(_crop(x)).reason != "gate.reason.negative"
    refused = gate.check(_crop(1.0 - x))
    assert not refused.accepted and not refused.prosthesis
    assert refused.reason in ("gate.reason.negative", "gate.reason.not_knee")


def test_most_example_negatives_are_named_as_such():
    reasons = [gate.check(_crop(1.0 - _pixels(p))).reason for p in KNEES]
    assert reasons.count("gate.reason.negative") >= len(KNEES) // 2, reasons


def test_a_white_border_does_not_make_a_knee_a_negative():
    x = _pixels(KNEES[0]).copy()
    x[:, :40] = 1.0  # collimation left white, as some systems export it
    x[:30] = 1.0
    assert load_polarity()(x) < NEGATIVE_THRESHOLD


def test_without_a_shipped_network_the_check_is_skipped(monkeypatch):
    monkeypatch.setattr(polarity, "load_polarity", lambda weights_dir=None: None)
    assert gate.check(_crop(1.0 - _pixels(KNEES[0]))).reason != "gate.reason.negative"


def test_a_chest_or_hand_film_is_refused_as_not_a_knee_whatever_its_polarity_reads():
    from kneeai.training import ood_set

    rng = np.random.default_rng(3)
    for make in (ood_set.chest_phantom, ood_set.hand_phantom):
        x = ood_set.to_grey(make(rng))
        for shown in (x, 1.0 - x):
            assert gate.check(_crop(shown)).reason == "gate.reason.not_knee"


def test_a_crop_handed_on_as_a_negative_is_turned_back_and_says_so():
    x = _pixels(KNEES[0])
    kept = upright(_crop(x))
    assert not kept.inverted and kept.pixels is not None and np.array_equal(kept.pixels, x)
    turned = upright(_crop(1.0 - x))
    assert turned.inverted and np.allclose(turned.pixels, x, atol=1e-6)


def _grade_json(path: Path) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "kneeai", "grade", str(path), "--json"],
                         capture_output=True, text=True, timeout=300)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_a_negative_film_is_graded_turned_back_with_the_same_knees_and_grades(tmp_path):
    from tests.unit.test_localize import BILATERAL, _film

    film = _film(BILATERAL, (900, 1400), False, laterality=None)
    as_is, negative = tmp_path / "film.png", tmp_path / "negative film.png"
    Image.fromarray(np.round(film.pixels * 255).astype(np.uint8)).save(as_is)
    Image.fromarray(np.round((1.0 - film.pixels) * 255).astype(np.uint8)).save(negative)
    plain, turned = _grade_json(as_is), _grade_json(negative)
    assert len(plain) == len(turned) == 2
    assert all(r["path"] == str(negative) and r["knee"]["inverted"] is True for r in turned)
    assert all("inverted" not in r["knee"] for r in plain)
    for a, b in zip(plain, turned):
        side = a["knee"]["box"][2] - a["knee"]["box"][0]
        assert max(abs(u - v) for u, v in zip(a["knee"]["box"], b["knee"]["box"])) <= 0.1 * side
        assert a["knee"]["laterality"] == b["knee"]["laterality"]
        assert abs(a["expected_grade"] - b["expected_grade"]) < 0.5


def test_a_film_searched_the_wrong_way_round_first_is_searched_again(monkeypatch):
    from kneeai.pipeline import knees
    from tests.unit.test_localize import BILATERAL, _film

    film = _film(BILATERAL, (900, 1400), False, laterality=None)
    right = [(k.box, k.laterality, k.crop.inverted) for k in knees(film, "film")]
    assert len(right) == 2 and not any(inv for _, _, inv in right)
    # The whole-image read says "negative" for a film that is not one: the knees found on the
    # film turned are all negatives themselves, so the film is searched as it is.
    monkeypatch.setattr(polarity, "film_negative_probability", lambda px: 0.99)
    assert [(k.box, k.laterality, k.crop.inverted) for k in knees(film, "film")] == right


def test_a_knee_with_a_prosthesis_is_never_turned_and_stays_flagged():
    from kneeai.training import ood_set

    for path in KNEES:
        painted = ood_set.prosthesis_phantom(_pixels(path))
        kept = upright(_crop(painted))
        assert not kept.inverted
        result = gate.check(kept)
        assert not result.accepted and result.prosthesis, path.name


def test_the_archive_table_says_which_knees_were_turned_back(tmp_path):
    from kneeai.archive.rows import file_rows
    from kneeai.pipeline import iter_graded
    from tests.unit.test_localize import BILATERAL, _film

    film = _film(BILATERAL, (900, 1400), False, laterality=None)
    paths = [tmp_path / "film.png", tmp_path / "negative.png"]
    Image.fromarray(np.round(film.pixels * 255).astype(np.uint8)).save(paths[0])
    Image.fromarray(np.round((1.0 - film.pixels) * 255).astype(np.uint8)).save(paths[1])
    rows = [file_rows(g, i, "en") for i, g in enumerate(iter_graded(paths))]
    assert [r["inverted"] for r in rows[0]] == [False, False]
    assert [r["inverted"] for r in rows[1]] == [True, True]
    assert [r["kl_grade"] for r in rows[0]] == [r["kl_grade"] for r in rows[1]]
