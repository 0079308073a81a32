"""The shipped demo models: listed in the manifest, verified before loading, small, and validated as the issue asks."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from kneeai.errors import WeightsMismatch
from kneeai.manifest import load_manifest, verified_path
from kneeai.survival.demo import DEMO_FILES, load_demo_models
from kneeai.survival.metrics import calibration_at, harrell_c
from kneeai.survival.simulate import simulate, true_survival
from kneeai.survival.validation import VALIDATION_FILE, load_validation
from tests.conftest import ROOT

SHIPPED = ("survival_cox.json", "survival_deepsurv.json", "survival_deepsurv.pt", VALIDATION_FILE)


def test_every_shipped_survival_file_is_in_the_manifest_and_verifies():
    manifest = load_manifest()
    for name in SHIPPED:
        path, entry = verified_path(name)
        assert entry["simulated"] is True and path.stat().st_size == entry["bytes"]
    assert sum((ROOT / "weights" / n).stat().st_size for n in SHIPPED) < 5 * 2**20
    assert set(DEMO_FILES.values()) <= set(manifest)


def test_a_changed_model_file_is_refused(tmp_path):
    for name in ("manifest.json", *SHIPPED):
        shutil.copy(ROOT / "weights" / name, tmp_path / name)
    load_demo_models(tmp_path)
    (tmp_path / "survival_cox.json").write_text((tmp_path / "survival_cox.json").read_text().replace('"coef":[', '"coef":[0.5,', 1))
    load_demo_models.cache_clear()
    with pytest.raises(WeightsMismatch):
        load_demo_models(tmp_path)
    load_demo_models.cache_clear()


def test_shipped_models_are_the_ones_validated_and_meet_the_targets():
    v = load_validation()
    manifest = load_manifest()
    for name, info in v["models"].items():
        assert manifest[DEMO_FILES[name]]["sha256"] == info["sha256"]
    rows = {r["model"]: r for r in v["rows"]}
    assert abs(rows["deepsurv"]["harrell_c"] - rows["true_risk"]["harrell_c"]) <= 0.01
    for m in ("cox", "deepsurv"):
        assert 0.9 <= rows[m]["cal_slope_5y"] <= 1.1
    assert 0.74 <= rows["kl_only"]["harrell_c"] <= 0.81
    groups = {g["group"]: g for g in v["subgroups"]}
    # Where the interaction lives, Cox misses in the direction the simulator says and DeepSurv is closer.
    hi4, lo4 = groups["kl4_pain_high"], groups["kl4_pain_low"]
    assert hi4["cox"] < hi4["true_risk"] and lo4["cox"] > lo4["true_risk"]
    assert abs(hi4["deepsurv"] - hi4["true_risk"]) < abs(hi4["cox"] - hi4["true_risk"])
    assert abs(lo4["deepsurv"] - lo4["true_risk"]) < abs(lo4["cox"] - lo4["true_risk"])
    assert v["simulated"] is True


def test_shipped_models_rank_fresh_simulated_knees_nearly_as_well_as_the_truth():
    df = simulate(8000, seed=99, truth=True)
    e, t = df["event"].to_numpy(bool), df["time"].to_numpy()
    best = harrell_c(e, t, df["true_log_hazard"].to_numpy())
    for model in load_demo_models():
        assert harrell_c(e, t, model.log_hazard(df)) > best - 0.02


def test_calibration_slope_of_the_truth_is_one():
    df = simulate(40_000, seed=8, truth=True)
    risk = 1 - true_survival(df, np.array([5.0]))[:, 0]
    cal = calibration_at(df["event"].to_numpy(bool), df["time"].to_numpy(), risk, 5.0)
    assert cal.slope == pytest.approx(1.0, abs=0.12)
    assert cal.predicted_overall == pytest.approx(cal.observed_overall, rel=0.15)
    assert list(cal.predicted) == sorted(cal.predicted)
