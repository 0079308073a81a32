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
from kneeai.training.framing_fit import as_model, fit_trees
from tests.unit.test_localize import BILATERAL, _film

ROOT = Path(__file__).resolve().parents[2]


def _sub(rad: Radiograph, box: CropBox) -> Radiograph:
    px = rad.pixels[box.top : box.top + box.height, box.left : box.left + box.width]
    return Radiograph(pixels=np.ascontiguousarray(px), spacing_mm=None, laterality=None, source="t")


def test_the_model_is_shipped_and_checked():
    model = load_framing()
    assert model is not None and len(model.roots) > 10


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


def test_the_shipped_arrays_give_exactly_what_the_fitted_trees_give(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = 0.3 * x[:, 0] - 0.2 * (x[:, 1] > 0.5) + 0.05 * rng.normal(size=300)
    fitted = fit_trees(x, y)
    model = as_model(fitted)
    model.save(tmp_path / "f.npz")
    back = FramingModel.load(tmp_path / "f.npz")
    test = rng.normal(size=(50, 6))
    assert np.allclose(back.log_scales(test), fitted.predict(test), atol=1e-9)


def test_a_damaged_model_file_is_not_used(tmp_path, caplog):
    for f in ("framing.npz", "manifest.json"):
        shutil.copy(ROOT / "weights" / f, tmp_path / f)
    with open(tmp_path / "framing.npz", "ab") as fh:
        fh.write(b"x")
    load_framing.cache_clear()
    try:
        assert load_framing(tmp_path) is None
        assert "not usable" in caplog.text
    finally:
        load_framing.cache_clear()


def test_without_the_model_a_square_crop_is_graded_as_given(monkeypatch):
    monkeypatch.setattr(framing, "load_framing", lambda weights_dir=None: None)
    film = _film(BILATERAL, (900, 1400), False, laterality=None)
    b = knees(film)[0].box
    side = int(b.height * 1.6)
    loose = CropBox(b.top + b.height // 2 - side // 2, b.left + b.width // 2 - side // 2, side, side)
    assert knees(_sub(film, loose))[0].box == CropBox(0, 0, side, side)
