"""Fitting the gate with real films' knees (kneeai.training.gate_fit): folds by film, and the
cross-fitted refusal of knees from a site the OAI density has not seen."""
from __future__ import annotations

import numpy as np
from PIL import Image

from kneeai.grading.gate import fit_density
from kneeai.training import gate_fit


def test_both_knees_of_a_film_share_a_fold_and_every_fold_is_used():
    names = [f"film{i // 2}.jpg" for i in range(40)] + ["single.jpg"]
    fold = gate_fit._film_folds(names, 5, seed=3)
    for i in range(0, 40, 2):
        assert fold[i] == fold[i + 1]
    assert set(fold) == set(range(5))


def _site_data(rng, offset: float):
    """OAI-like features in two grade clusters, val knees like them, and knees of another site
    whose features are all moved along one direction the OAI knees never vary in."""
    dim = 24
    centres = np.stack([np.zeros(dim), np.full(dim, 3.0)])
    scale = np.linspace(0.3, 1.5, dim)
    scale[-1] = 0.05  # the OAI knees hardly vary along the last direction
    oai_labels = np.repeat([0, 1], 400)
    oai = centres[oai_labels] + rng.normal(0, 1, (800, dim)) * scale
    val = centres[np.repeat([0, 1], 100)] + rng.normal(0, 1, (200, dim)) * scale
    film_labels = np.repeat([0, 1], 100)
    film = centres[film_labels] + rng.normal(0, 1, (200, dim)) * scale
    film[:, -1] += offset + rng.normal(0, 0.1 * offset, 200)
    names = [f"f{i // 2}" for i in range(200)]
    return oai, oai_labels, val, film, film_labels, names


def test_cross_fitted_film_refusal_falls_when_other_films_of_the_site_are_in_the_density():
    oai, oai_labels, val, film, film_labels, names = _site_data(np.random.default_rng(0), offset=8.0)

    def fit(mask):
        return fit_density(np.concatenate([oai, film[mask]]), np.concatenate([oai_labels, film_labels[mask]]), 8)

    oai_only = fit(np.zeros(200, bool))
    threshold = np.quantile(oai_only.distance2(val), gate_fit.VAL_QUANTILE)
    before = float((oai_only.distance2(film) > threshold).mean())
    after = gate_fit.crossfit_film_rejection(fit, val, film, names, folds=5, seed=0)
    # The site's shift is far outside the OAI density, so it refuses nearly all of them; with the
    # site's other films in the fit, the held-out films' knees pass.
    assert before > 0.9
    assert after < 0.1


def test_film_knee_crops_cuts_every_knee_and_skips_unreadable_files(tmp_path):
    from tests.unit.test_localize import BILATERAL, _film  # a synthetic two-knee film

    film = _film(BILATERAL, (900, 1400), spacing=False, laterality=None).pixels
    Image.fromarray(np.rint(film * 255).astype(np.uint8)).save(tmp_path / "both.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    crops, names = gate_fit.film_knee_crops(tmp_path)
    assert names == ["both.png", "both.png"]
    assert all(c.shape == (224, 224) for c in crops)
