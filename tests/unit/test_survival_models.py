"""Cox and DeepSurv: one interface, known effect directions, monotone curves, files without pickle."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sksurv.util import Surv

from kneeai.survival.breslow import breslow_cumulative_hazard
from kneeai.survival.cox import CoxPH
from kneeai.survival.deepsurv import DeepSurv, cox_partial_likelihood_loss
from kneeai.survival.encoding import TableEncoder
from kneeai.survival.ensemble import SurvivalModel
from kneeai.survival.simulate import simulate


def _toy(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x1 raises the hazard (log HR +0.8), x2 lowers it (-0.5), x3 does nothing."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    eta = 0.8 * X[:, 0] - 0.5 * X[:, 1]
    t_event = rng.exponential(np.exp(-eta))
    t_cens = rng.exponential(2.0, n)
    return X, Surv.from_arrays(t_event <= t_cens, np.minimum(t_event, t_cens))


@pytest.mark.parametrize("make", [lambda: CoxPH(), lambda: DeepSurv(hidden=(16,), max_epochs=200, patience=20)])
def test_both_models_recover_the_direction_of_known_effects(make):
    X, y = _toy()
    model = make().fit(X, y)
    base = np.zeros((1, 3))
    up, down, none = base.copy(), base.copy(), base.copy()
    up[0, 0], down[0, 1], none[0, 2] = 1.0, 1.0, 1.0
    r0 = model.predict(base)[0]
    assert model.predict(up)[0] - r0 > 0.4
    assert model.predict(down)[0] - r0 < -0.2
    assert abs(model.predict(none)[0] - r0) < 0.2


def test_cox_matches_the_true_coefficients():
    X, y = _toy(n=6000, seed=1)
    np.testing.assert_allclose(CoxPH().fit(X, y).coef_, [0.8, -0.5, 0.0], atol=0.08)


@pytest.mark.parametrize("make", [lambda: CoxPH(), lambda: DeepSurv(hidden=(8,), max_epochs=60, patience=10)])
def test_survival_functions_are_monotone_and_start_at_one(make):
    X, y = _toy(n=1500)
    model = make().fit(X, y)
    s = model.survival_at(X[:20], model.grid_)
    assert np.allclose(s[:, 0], 1.0)
    assert np.all(np.diff(s, axis=1) <= 1e-12)
    assert np.all((s >= 0) & (s <= 1))
    fns = model.predict_survival_function(X[:2])
    assert len(fns) == 2 and fns[0](model.grid_[-1]) == pytest.approx(s[0, -1])


def test_breslow_matches_scikit_survival():
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    X, y = _toy(n=800, seed=4)
    ref = CoxPHSurvivalAnalysis(alpha=1e-3, ties="breslow").fit(X, y)
    ours = CoxPH(alpha=1e-3).fit(X, y)
    grid = ours.grid_[1:-1]
    np.testing.assert_allclose(ours.cum_baseline_hazard_[1:-1], ref.cum_baseline_hazard_(grid), rtol=1e-6)


def test_breslow_counts_tied_events_together():
    h0 = breslow_cumulative_hazard(np.zeros(4), np.array([1.0, 1.0, 2.0, 3.0]), np.array([1, 1, 0, 1]), np.array([0.5, 1.0, 3.0]))
    np.testing.assert_allclose(h0, [0.0, 2 / 4, 2 / 4 + 1 / 1])


def test_loss_equals_torchsurv_breslow_partial_likelihood():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchsurv warns about torch.jit and about ties
        from torchsurv.loss.cox import neg_partial_log_likelihood

        g = torch.Generator().manual_seed(0)
        log_h = torch.randn(300, generator=g)
        event = torch.rand(300, generator=g) < 0.4
        for time in (torch.rand(300, generator=g) * 10, torch.randint(1, 25, (300,), generator=g).float()):
            ref = neg_partial_log_likelihood(log_h, event, time, ties_method="breslow", reduction="sum") / event.sum()
            assert float(cox_partial_likelihood_loss(log_h, time, event)) == pytest.approx(float(ref), rel=1e-5)


def test_deepsurv_numpy_inference_equals_torch():
    X, y = _toy(n=600)
    m = DeepSurv(hidden=(8, 8), max_epochs=20).fit(X, y)
    np.testing.assert_allclose(m.predict(X[:50]), m.predict_torch(X[:50]), atol=1e-5)


def test_deepsurv_is_reproducible_with_its_seed():
    X, y = _toy(n=600)
    a = DeepSurv(hidden=(8,), max_epochs=30, seed=3).fit(X, y).predict(X[:10])
    b = DeepSurv(hidden=(8,), max_epochs=30, seed=3).fit(X, y).predict(X[:10])
    np.testing.assert_allclose(a, b)


def test_deepsurv_learns_an_interaction_cox_cannot():
    # Hazard depends on x1 only when x2 = 1: Cox fits one average slope, DeepSurv two.
    rng = np.random.default_rng(7)
    n = 6000
    x1, x2 = rng.standard_normal(n), rng.integers(0, 2, n).astype(float)
    eta = 1.2 * x1 * x2
    t_event = rng.exponential(np.exp(-eta))
    t_cens = rng.exponential(2.0, n)
    y = Surv.from_arrays(t_event <= t_cens, np.minimum(t_event, t_cens))
    X = np.column_stack([x1, x2])
    ds = DeepSurv(hidden=(16, 16), max_epochs=300).fit(X, y)
    probe = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    r = ds.predict(probe)
    assert abs(r[0] - r[1]) < 0.3 and (r[2] - r[3]) > 0.8


def test_encoder_one_hot_encodes_and_names_rows_with_problems():
    df = pd.DataFrame({"age": [50, 60, 70], "sex": ["F", "M", "F"], "kl": [0, 2, 4]})
    enc = TableEncoder.fit(df, ["age", "sex", "kl"], categorical=["kl"])
    assert enc.columns == ("age", "sex=M", "kl=2", "kl=4")
    X = enc.transform(df)
    assert X.shape == (3, 4) and X[1, 1] == 1 and X[2, 3] == 1
    from kneeai.errors import InvalidSurvivalData

    with pytest.raises(InvalidSurvivalData) as info:
        enc.transform(pd.DataFrame({"age": [55, 65], "sex": ["F", "X"], "kl": [2, 2]}))
    assert "2" in info.value.message("en") and "X" in info.value.message("en")


def test_model_files_round_trip_without_pickle(tmp_path):
    df = simulate(2500, seed=5)
    for kind in ("cox", "deepsurv"):
        params = {"hidden": (8,), "max_epochs": 40} if kind == "deepsurv" else None
        m = SurvivalModel.fit(df, time="time", event="event", features=["age", "sex", "bmi", "womac_pain", "kl"], categorical=["sex", "kl"],
                              kind=kind, n_boot=2, params=params, simulated=True)
        files = m.save(tmp_path / f"{kind}.json")
        json.loads(files[0].read_text())  # plain JSON
        if kind == "deepsurv":
            state = torch.load(files[1], weights_only=True)  # a tensor dict, nothing executable
            assert all(isinstance(v, torch.Tensor) for v in state.values())
        back = SurvivalModel.load(files[0])
        p1, lo1, hi1 = m.survival_band(df.head(5), [1, 5, 9])
        p2, lo2, hi2 = back.survival_band(df.head(5), [1, 5, 9])
        np.testing.assert_allclose(p1, p2, rtol=1e-5)
        np.testing.assert_allclose(lo1, lo2, rtol=1e-5)
        assert back.simulated and np.all(lo2 <= p2) and np.all(p2 <= hi2)


def test_a_tampered_deepsurv_tensor_file_is_refused(tmp_path):
    from kneeai.errors import WeightsMismatch

    df = simulate(1500, seed=6)
    m = SurvivalModel.fit(df, time="time", event="event", features=["age", "kl"], kind="deepsurv", n_boot=0,
                          params={"hidden": (4,), "max_epochs": 5})
    json_path, pt = m.save(tmp_path / "m.json")
    pt.write_bytes(pt.read_bytes() + b"x")
    with pytest.raises(WeightsMismatch):
        SurvivalModel.load(json_path)
