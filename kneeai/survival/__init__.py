"""TKR survival models: the simulated cohort, Cox and DeepSurv, the per-patient risk panel, refits.

The public names are re-exported here and imported on first use, so that importing the package does not pull in
torch and scikit-survival. (The cohort simulator is ``kneeai.survival.simulate.simulate``: the
module's name would shadow a re-exported function.)
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CoxPH",
    "DeepSurv",
    "SurvivalModel",
    "assess",
    "predict_risk",
    "risk_input_from_fields",
    "what_if",
    "what_if_sentences",
    "fit_table",
    "predict_table",
    "load_demo_models",
]

_HOME = {
    "CoxPH": "kneeai.survival.cox",
    "DeepSurv": "kneeai.survival.deepsurv",
    "SurvivalModel": "kneeai.survival.ensemble",
    "assess": "kneeai.survival.risk",
    "predict_risk": "kneeai.survival.risk",
    "risk_input_from_fields": "kneeai.survival.risk",
    "what_if": "kneeai.survival.risk",
    "what_if_sentences": "kneeai.survival.risk",
    "fit_table": "kneeai.survival.refit",
    "predict_table": "kneeai.survival.refit",
    "load_demo_models": "kneeai.survival.demo",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'kneeai.survival' has no attribute {name!r}")
