"""The shipped demo models: Cox and DeepSurv fitted on the simulated cohort, and how to rebuild them.

    python -m kneeai survival build-demo      # fits both, writes weights/, registers the manifest
    python -m kneeai survival validate        # then recomputes weights/survival_validation.json

One simulated cohort (``COHORT_N`` knees, ``COHORT_SEED``) is split by row: the first
``TRAIN_N`` rows train the models, the rest are the held-out validation set. Nothing about the
held-out rows is seen during fitting or early stopping.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from kneeai.config import SETTINGS
from kneeai.survival.ensemble import SurvivalModel
from kneeai.survival.simulate import PARAMETERS, simulate

__all__ = ["DemoPlan", "PLAN", "DEMO_FILES", "FEATURES", "CATEGORICAL", "cohort", "train_demo", "load_demo_models",
           "train_kl_only"]

# The demo models' inputs, as named in a simulated cohort's columns.
FEATURES: tuple[str, ...] = ("age", "sex", "bmi", "womac_pain", "kl")
CATEGORICAL: tuple[str, ...] = ("sex", "kl")
DEMO_FILES: dict[str, str] = {"cox": "survival_cox.json", "deepsurv": "survival_deepsurv.json"}


@dataclass(frozen=True)
class DemoPlan:
    """How the demo models are fitted. Member counts trade interval stability for size and latency."""

    cohort_n: int = 70_000
    cohort_seed: int = 20_240_905
    train_n: int = 40_000
    cox_members: int = 30
    deepsurv_members: int = 10
    # Empty: DeepSurv's own defaults, which were chosen on this cohort.
    deepsurv_params: tuple[tuple[str, object], ...] = ()
    # A 0.05-year grid over the 9-year follow-up.
    grid_points: int = 181


PLAN = DemoPlan()


def cohort(plan: DemoPlan = PLAN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, held-out rows) of the demo cohort, the held-out part with the simulator's truth."""
    df = simulate(plan.cohort_n, plan.cohort_seed, truth=True)
    return df.iloc[: plan.train_n].reset_index(drop=True), df.iloc[plan.train_n:].reset_index(drop=True)


def _grid(plan: DemoPlan) -> np.ndarray:
    return np.linspace(0.0, PARAMETERS.follow_up_years, plan.grid_points)


def train_demo(weights_dir: Path | None = None, plan: DemoPlan = PLAN, kinds: tuple[str, ...] = ("cox", "deepsurv")) -> dict[str, SurvivalModel]:
    """Fit the demo models on the training rows, save them into ``weights_dir`` and register them."""
    from kneeai.manifest import register

    wdir = weights_dir or SETTINGS.weights_dir
    train, _ = cohort(plan)
    out = {}
    for kind in kinds:
        params = dict(plan.deepsurv_params) if kind == "deepsurv" else None
        n_boot = plan.deepsurv_members if kind == "deepsurv" else plan.cox_members
        model = SurvivalModel.fit(train, time="time", event="event", features=FEATURES, categorical=CATEGORICAL, kind=kind,
                                  n_boot=n_boot, seed=plan.cohort_seed % 1000, params=params, simulated=True, name=kind,
                                  time_unit="years", grid=_grid(plan))
        model.meta["cohort"] = {"n": plan.cohort_n, "seed": plan.cohort_seed, "train_rows": plan.train_n}
        for path in model.save(wdir / DEMO_FILES[kind]):
            register(path.name, {"kind": "survival", "architecture": kind, "simulated": True,
                                 "trained_on": f"simulated cohort n={plan.train_n} (seed {plan.cohort_seed})",
                                 "rebuild": "python -m kneeai survival build-demo"}, wdir)
        out[kind] = model
    load_demo_models.cache_clear()
    return out


def train_kl_only(plan: DemoPlan = PLAN) -> SurvivalModel:
    """The KL-only Cox baseline of the validation page (not shipped: it is refitted in seconds)."""
    train, _ = cohort(plan)
    return SurvivalModel.fit(train, time="time", event="event", features=("kl",), categorical=("kl",), kind="cox", n_boot=0,
                             simulated=True, name="kl_only", time_unit="years", grid=_grid(plan))


@lru_cache(maxsize=4)
def load_demo_models(weights_dir: Path | None = None) -> tuple[SurvivalModel, ...]:
    """(Cox, DeepSurv) from ``weights/``, each file checked against the manifest before loading."""
    from kneeai.manifest import verified_path

    models = []
    for kind in ("cox", "deepsurv"):
        path, entry = verified_path(DEMO_FILES[kind], weights_dir)
        if kind == "deepsurv":
            verified_path(Path(DEMO_FILES[kind]).with_suffix(".pt").name, weights_dir)
        models.append(SurvivalModel.load(path, model_id=Path(DEMO_FILES[kind]).stem, sha256=entry["sha256"]))
    return tuple(models)
