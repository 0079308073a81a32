"""The out-of-distribution gate: knees pass, everything else is refused with the right reason."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.errors import NotAKnee
from kneeai.grading import gate
from kneeai.training import ood_set
from kneeai.grading.weights import load_grader
from kneeai.i18n import t
from kneeai.io.appearance import colourfulness
from kneeai.manifest import register
from kneeai.schemas import KneeCrop, Radiograph

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "knees").glob("*.webp"))


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def _crop(pixels: np.ndarray, laterality=None) -> KneeCrop:
    return KneeCrop(pixels=np.asarray(pixels, np.float32), laterality=laterality, box=None)


def _film(rgb: np.ndarray) -> Radiograph:
    return Radiograph(pixels=ood_set.to_grey(rgb), spacing_mm=None, laterality=None, source="test",
                      colourfulness=colourfulness(rgb))


@pytest.fixture(scope="module")
def grader():
    return load_grader()


@pytest.fixture(scope="module")
def knees() -> list[np.ndarray]:
    assert len(EXAMPLES) == 8
    return [ood_set.to_grey(_rgb(p)) for p in EXAMPLES]


def test_shipped_gate_matches_the_shipped_grader(grader):
    # After new grader weights ship, `python -m kneeai.training.gate_fit fit` must be re-run.
    density = gate.load_gate(grader)
    assert density is not None
    assert density.grader_sha256 == grader.info.sha256
    assert np.isfinite(density.threshold) and density.threshold > 0


def test_example_knees_are_accepted(grader, knees):
    for path, pixels in zip(EXAMPLES, knees):
        film = _film(_rgb(path))
        result = gate.check(_crop(pixels, path.stem[-1]), grader=grader, radiograph=film)
        assert result.accepted, (path.name, result)
        assert result.reason is None and not result.prosthesis
        assert 0 < result.score <= 1.0


def test_blank_noise_and_text_are_rejected_with_their_reasons(grader):
    rng = np.random.default_rng(1)
    cases = {
        "gate.reason.blank": [np.full((224, 224), v, np.float32) for v in (0.0, 0.5, 1.0)],
        "gate.reason.noise": [rng.random((224, 224)).astype(np.float32),
                              np.clip(rng.normal(0.5, 0.15, (224, 224)), 0, 1).astype(np.float32)],
        "gate.reason.screenshot": [ood_set.to_grey(ood_set.text_screenshot(rng, dark=d, font_size=s))
                                   for d in (False, True) for s in (11, 16)]
        # Computer-drawn gradients: smooth like anatomy, but without a film's fine texture.
        + [np.tile(np.linspace(0, 1, 224, dtype=np.float32), (224, 1)),
           np.clip(1 - np.hypot(*np.mgrid[-1:1:224j, -1:1:224j]), 0, 1).astype(np.float32)],
    }
    for reason, images in cases.items():
        for x in images:
            result = gate.check(_crop(x), grader=grader)
            assert not result.accepted and result.reason == reason
            assert result.score > 1.0 and not result.prosthesis


def test_colour_photographs_are_rejected_as_photos(grader):
    from sklearn.datasets import load_sample_image

    photos = [load_sample_image(n).astype(np.float32) / 255.0 for n in ("china.jpg", "flower.jpg")]
    photos.append(ood_set.colour_field(np.random.default_rng(2)))
    for rgb in photos:
        film = _film(rgb)
        assert not gate.check_radiograph(film).accepted
        result = gate.check(_crop(ood_set.centre_square(film.pixels)), grader=grader, radiograph=film)
        assert result.reason == "gate.reason.photo"
        # Even turned grey (no colour left to see), the content is not a knee film.
        grey_only = gate.check(_crop(ood_set.centre_square(film.pixels)), grader=grader)
        assert not grey_only.accepted


def test_a_grey_knee_saved_as_rgb_is_not_a_photo(knees):
    rgb = _rgb(EXAMPLES[0])
    assert colourfulness(rgb) < 1.0
    assert gate.check_radiograph(_film(rgb)).accepted


def test_tiny_film_is_refused():
    film = Radiograph(pixels=np.random.default_rng(0).random((60, 60)).astype(np.float32), spacing_mm=None,
                      laterality=None, source="test")
    assert gate.check_radiograph(film).reason == "gate.reason.too_small"


def test_chest_and_hand_films_are_rejected(grader):
    rng = np.random.default_rng(3)
    for make in (ood_set.chest_phantom, ood_set.hand_phantom):
        for _ in range(2):
            result = gate.check(_crop(ood_set.to_grey(make(rng))), grader=grader)
            assert not result.accepted and result.reason == "gate.reason.not_knee"


def test_prosthesis_is_flagged_not_graded(grader, knees):
    for path, pixels in zip(EXAMPLES, knees):
        result = gate.check(_crop(ood_set.prosthesis_phantom(pixels), path.stem[-1]), grader=grader)
        assert not result.accepted and result.prosthesis, path.name
        assert result.reason == "gate.reason.prosthesis"


def test_metal_on_something_that_is_not_a_knee_is_never_graded(grader):
    # White shapes on a chest or hand film look like metal. Whether the refusal names a
    # prosthesis or "not a knee" depends on gate.PROSTHESIS_DENSITY_SLACK (knees come first);
    # that it is refused does not.
    rng = np.random.default_rng(4)
    for make in (ood_set.chest_phantom, ood_set.hand_phantom):
        for _ in range(3):
            painted = ood_set.prosthesis_phantom(ood_set.to_grey(make(rng)))
            assert dict(gate.image_checks(painted))["gate.reason.prosthesis"] > 1.0  # the metal is seen
            result = gate.check(_crop(painted), grader=grader)
            assert not result.accepted
            assert result.reason in ("gate.reason.not_knee", "gate.reason.prosthesis")


def test_metal_on_a_textured_non_knee_picture_is_not_called_a_prosthesis(grader):
    # A picture whose content is far from any knee is refused as "not a knee" even with metal.
    rng = np.random.default_rng(7)
    far = 0
    for _ in range(6):
        painted = ood_set.prosthesis_phantom(ood_set.to_grey(ood_set._colour_texture(rng)))
        result = gate.check(_crop(painted), grader=grader)
        assert not result.accepted
        far += result.reason == "gate.reason.not_knee"
    assert far >= 3


def test_a_clipped_patella_is_not_a_prosthesis(knees):
    # 8-bit exports often clip the patella over the femur to pure white; metal sits at the joint.
    x = knees[0].copy()
    x[20:80, 70:150] = 1.0
    assert dict(gate.image_checks(x))["gate.reason.prosthesis"] <= 1.0


def test_grading_refuses_what_the_gate_rejects_unless_asked():
    from kneeai.grading import grade

    blank = np.full((224, 224), 0.3, np.float32)
    with pytest.raises(NotAKnee) as info:
        grade(blank)
    assert info.value.params["detail_key"] == "gate.reason.blank"
    forced = grade(blank, allow_outside_use=True)
    assert forced.outside_validated_use and forced.gate.reason == "gate.reason.blank"


def test_every_reason_reads_in_both_languages():
    for key in gate.REASONS:
        en, zh = t(key, "en"), t(key, "zh")
        assert en != key and zh != key and en != zh
    msg = NotAKnee(detail_key="gate.reason.prosthesis", detail="ignored").message("zh")
    assert t("gate.reason.prosthesis", "zh") in msg and "prosthesis" not in msg


def test_density_scores_near_points_low_and_far_points_high(tmp_path):
    rng = np.random.default_rng(0)
    centres = np.stack([np.zeros(20), np.full(20, 3.0)])
    labels = np.repeat([0, 1], 300)
    feats = centres[labels] + rng.normal(0, 1, (600, 20)) * np.linspace(0.2, 2.0, 20)
    density = gate.fit_density(feats, labels, n_components=8)
    near = density.distance2(centres + rng.normal(0, 0.1, (2, 20)))
    far = density.distance2(np.full((1, 20), 20.0))
    assert near.max() < 10 < 1000 < far.min()
    # A point is as far as its nearest class: each fitted class mean is at distance 0.
    np.testing.assert_allclose(density.distance2(density.means), 0.0, atol=1e-9)
    path = tmp_path / "g.npz"
    gate.FeatureDensity(density.means, density.components, density.variances, density.residual_variance, 5.0,
                        "m", "abc").save(path)
    back = gate.FeatureDensity.load(path)
    assert back.threshold == 5.0 and back.grader_sha256 == "abc"
    np.testing.assert_allclose(back.distance2(feats[:5]), density.distance2(feats[:5]), rtol=1e-4)


def test_a_gate_fitted_for_another_grader_is_ignored(tmp_path, grader, knees, caplog, monkeypatch):
    d = gate.FeatureDensity(np.zeros((1, 1280)), np.eye(1280)[:2], np.ones(2), 1.0, 1e-9, "other-model", "f" * 64)
    d.save(tmp_path / gate.GATE_FILE)
    register(gate.GATE_FILE, {"kind": "ood_gate"}, weights_dir=tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text())[gate.GATE_FILE]["sha256"]
    with caplog.at_level("WARNING"):
        assert gate.load_gate(grader, weights_dir=tmp_path) is None
    assert "image statistics only" in caplog.text
    # With a threshold of 1e-9 this density would reject every knee; ignored, the knee passes
    # on image statistics alone, and a blank frame is still refused.
    load = gate.load_gate
    monkeypatch.setattr(gate, "load_gate", lambda g: load(g, weights_dir=tmp_path))
    assert gate.check(_crop(knees[0]), grader=grader).accepted
    assert gate.check(_crop(np.zeros((224, 224), np.float32)), grader=grader).reason == "gate.reason.blank"
