"""Held-out validation of the demo models on the simulated cohort, precomputed for the validation page.

    python -m kneeai survival validate        # rewrites weights/survival_validation.json (~1 min)

Cox, DeepSurv and a KL-only Cox baseline are scored on the held-out rows of the demo cohort next to
the simulator's own true risk (the best any model could do on these data): Harrell's and Uno's C,
time-dependent AUC at 2 and 5 years, the integrated Brier score, calibration at 5 years (deciles
against Kaplan-Meier, and the calibration slope), and mean 5-year risk in the subgroups where the
simulated pain-by-KL interaction lives.
"""
from __future__ import annotations

import json
import time as _time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kneeai.config import SETTINGS
from kneeai.survival import metrics
from kneeai.survival.demo import PLAN, DemoPlan, cohort, load_demo_models, train_kl_only
from kneeai.survival.simulate import true_survival

__all__ = ["VALIDATION_FILE", "HORIZON", "AUC_TIMES", "UNO_TAU", "SUBGROUPS", "compute_validation", "write_validation",
           "load_validation", "MODEL_ORDER"]

VALIDATION_FILE = "survival_validation.json"
HORIZON = 5.0
AUC_TIMES: tuple[float, ...] = (2.0, 5.0)
# Uno's C and the Brier integral stop before 9 years, where administrative censoring leaves no one at risk.
UNO_TAU = 8.5
BRIER_TIMES = np.linspace(0.5, 8.5, 33)
MODEL_ORDER: tuple[str, ...] = ("true_risk", "cox", "deepsurv", "kl_only")
# (key, rule) pairs: the interaction says pain should matter little at KL 0-1 and most at KL 4.
SUBGROUPS: tuple[tuple[str, str], ...] = (
    ("kl01_pain_high", "kl <= 1 and womac_pain >= 8"),
    ("kl01_pain_low", "kl <= 1 and womac_pain <= 2"),
    ("kl4_pain_high", "kl == 4 and womac_pain >= 10"),
    ("kl4_pain_low", "kl == 4 and womac_pain <= 2"),
    ("kl3_pain_high", "kl == 3 and womac_pain >= 10"),
)


def _scores(test: pd.DataFrame, models: dict[str, Any], times: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (risk score, S at times)."""
    out = {"true_risk": (test["true_log_hazard"].to_numpy(), true_survival(test, times))}
    for name, model in models.items():
        # The point model only: intervals are the panel's business, not the validation's.
        out[name] = (model.log_hazard(test), model.point.survival_at(model.encoder.transform(test), times))
    return out


def compute_validation(plan: DemoPlan = PLAN, weights_dir: Path | None = None) -> dict[str, Any]:
    """All numbers of the validation page, as a JSON-ready dict."""
    started = _time.perf_counter()
    train, test = cohort(plan)
    cox, deepsurv = load_demo_models(weights_dir)
    kl_only = train_kl_only(plan)
    models = {"cox": cox, "deepsurv": deepsurv, "kl_only": kl_only}
    times = np.unique(np.concatenate([BRIER_TIMES, AUC_TIMES, [HORIZON]]))
    scores = _scores(test, models, times)
    te, tt = test["event"].to_numpy(bool), test["time"].to_numpy(float)
    re, rt = train["event"].to_numpy(bool), train["time"].to_numpy(float)
    col = {float(t): i for i, t in enumerate(times)}
    rows, calibration = [], {}
    for name in MODEL_ORDER:
        score, surv = scores[name]
        risk_auc = 1 - surv[:, [col[t] for t in AUC_TIMES]]
        cal = metrics.calibration_at(te, tt, 1 - surv[:, col[HORIZON]], HORIZON)
        calibration[name] = cal.to_dict()
        aucs = metrics.time_dependent_auc(re, rt, te, tt, risk_auc, np.array(AUC_TIMES))
        rows.append({"model": name, "harrell_c": metrics.harrell_c(te, tt, score),
                     "uno_c": metrics.uno_c(re, rt, te, tt, score, UNO_TAU),
                     **{f"auc_{t:g}y": a for t, a in zip(AUC_TIMES, aucs)},
                     "ibs": metrics.integrated_brier(re, rt, te, tt, surv[:, [col[float(t)] for t in BRIER_TIMES]], BRIER_TIMES),
                     "cal_slope_5y": cal.slope, "predicted_5y": cal.predicted_overall, "observed_5y": cal.observed_overall})
    subgroups = []
    for key, rule in SUBGROUPS:
        mask = test.eval(rule).to_numpy()
        if mask.sum() == 0:
            continue
        entry = {"group": key, "rule": rule, "n": int(mask.sum()), "events_5y": int((te & (tt <= HORIZON))[mask].sum()),
                 "observed": 1 - metrics.kaplan_meier_at(te[mask], tt[mask], HORIZON)}
        for name in MODEL_ORDER:
            entry[name] = float((1 - scores[name][1][mask, col[HORIZON]]).mean())
        subgroups.append(entry)
    by = {r["model"]: r for r in rows}
    return {
        "simulated": True,
        "generated": _time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python -m kneeai survival validate",
        "seconds": round(_time.perf_counter() - started, 1),
        "cohort": {"n": plan.cohort_n, "seed": plan.cohort_seed, "train_rows": len(train), "test_rows": len(test),
                   "train_events": int(re.sum()), "test_events": int(te.sum())},
        "models": {name: {"model_id": m.model_id, "sha256": m.sha256} for name, m in (("cox", cox), ("deepsurv", deepsurv))},
        "horizon": HORIZON, "auc_times": list(AUC_TIMES), "uno_tau": UNO_TAU,
        "rows": rows,
        "calibration": calibration,
        "subgroups": subgroups,
        "done_when": {
            "deepsurv_minus_true_c": by["deepsurv"]["harrell_c"] - by["true_risk"]["harrell_c"],
            "cox_minus_true_c": by["cox"]["harrell_c"] - by["true_risk"]["harrell_c"],
            "deepsurv_within_0_01_of_true": abs(by["deepsurv"]["harrell_c"] - by["true_risk"]["harrell_c"]) <= 0.01,
            "slopes_within_0_9_1_1": {n: 0.9 <= by[n]["cal_slope_5y"] <= 1.1 for n in ("cox", "deepsurv")},
        },
    }


def write_validation(weights_dir: Path | None = None, plan: DemoPlan = PLAN) -> dict[str, Any]:
    """Compute, write ``weights/survival_validation.json`` and register it in the manifest."""
    from kneeai.manifest import register

    wdir = weights_dir or SETTINGS.weights_dir
    result = compute_validation(plan, wdir)
    (wdir / VALIDATION_FILE).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    register(VALIDATION_FILE, {"kind": "survival-validation", "simulated": True, "rebuild": "python -m kneeai survival validate"}, wdir)
    return result


def load_validation(weights_dir: Path | None = None) -> dict[str, Any]:
    """The precomputed validation numbers, checked against the manifest."""
    from kneeai.manifest import verified_path

    path, _ = verified_path(VALIDATION_FILE, weights_dir)
    return json.loads(path.read_text(encoding="utf-8"))
