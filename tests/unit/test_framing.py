"""The framing model: a square knee crop cut looser than the standard is cut again at the standard's
size (kneeai.grading.framing, kneeai.grading.centre.crop_box)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.grading import framing
from kneeai.grading.framing import LOOSE_THRESHOLD, FramingModel, crop_scale, load_framing
from kneeai.pipeline import knees
from kneeai.schemas import CropBox, Radiograph
from kneeai.training.framing_fit import fit_ridge
from tests.unit.test_localize import BILATERAL, _film

ROOT = Path(__file__).resolve().parents[2]


def _sub(rad: Radiograph, box: CropBox) -> Radiograph:
    px = rad.pixels[box.top : box.top + box.height, box.left : box.left + box.width]
    return Radiograph(pixels=np.ascontiguousarray(px), spacing_mm=None, laterality=None, source="t")


def test_the_model_is_shipped_for_the_shipped_joint_scorer():
    found = load_framing()
    assert found is not None
    scorer, model = found
    assert (model.scorer_model_id, model.scorer_sha256) == (scorer.info.model_id, scorer.info.sha256)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples" / "knees").glob("*.webp")))
def test_an_oai_crop_reads_as_the_standard_and_is_graded_whole(name):
    px = np.asarray(Image.open(ROOT / "examples" / "knees" / name).convert("L"), np.float32) / 255
    assert 0.85 < crop_scale(px) < LOOSE_THRESHOLD
    rad = Radiograph(pixels=px, spacing_mm=None, laterality=None, source="t")
    assert knees(rad)[0].box == CropBox(0, 0, 224, 224)


@pytest.mark.parametrize("looser", [1.4, 1.6])
def test_a_looser_crop_of_a_film_knee_is_cut_again_near_the_knees_box(looser):
    film = _film(BILATERAL, (900, 1400), False, laterality=None)
    for k in knees(film):
        b = k.box
        side = int(b.height * looser)
        loose = CropBox(b.top + b.height // 2 - side // 2, b.left + b.width // 2 - side // 2, side, side)
        (again,) = knees(_sub(film, loose))
        assert abs(again.box.height / b.height - 1) < 0.25, (again.box, b)
        # and centred where the crop was: on the knee
        assert abs(again.box.top + again.box.height / 2 - side / 2) <= 1
    tight = knees(_sub(film, knees(film)[0].box))[0]
    assert tight.box.top == 0 and tight.box.height == knees(film)[0].box.height


def test_fit_ridge_recovers_a_linear_scale_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12)) * rng.uniform(0.5, 3, 12)
    w = rng.normal(size=12) * 0.05
    y = x @ w + 0.1
    model = fit_ridge(x, y, alpha=1e-3, scorer=("s", "h"))
    assert np.allclose(np.log(model.scales(x)), y, atol=1e-3)
    model.save(tmp_path / "f.npz")
    back = FramingModel.load(tmp_path / "f.npz")
    assert np.allclose(back.scales(x), model.scales(x)) and back.scorer_model_id == "s"


def test_a_model_fitted_for_another_scorer_is_not_used(tmp_path, caplog):
    from kneeai.manifest import register

    for f in ("joint_scorer.onnx", "joint_scorer_density.npz", "manifest.json"):
        shutil.copy(ROOT / "weights" / f, tmp_path / f)
    z = np.load(ROOT / "weights" / "framing.npz")
    FramingModel(z["mean"], z["scale"], z["coef"], float(z["intercept"]), "another-scorer", "0" * 64).save(tmp_path / "framing.npz")
    register("framing.npz", {"kind": "framing"}, tmp_path)
    load_framing.cache_clear()
    try:
        assert load_framing(tmp_path) is None
        assert "fitted for another-scorer" in caplog.text
    finally:
        load_framing.cache_clear()


def test_without_the_model_a_square_crop_is_graded_as_given(monkeypatch):
    monkeypatch.setattr(framing, "load_framing", lambda weights_dir=None: None)
    film = _film(BILATERAL, (900, 1400), False, laterality=None)
    b = knees(film)[0].box
    side = int(b.height * 1.6)
    loose = CropBox(b.top + b.height // 2 - side // 2, b.left + b.width // 2 - side // 2, side, side)
    assert knees(_sub(film, loose))[0].box == CropBox(0, 0, side, side)
