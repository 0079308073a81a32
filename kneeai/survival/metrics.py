"""Discrimination and calibration of survival predictions (thin, documented wrappers on scikit-survival).

Conventions: ``time`` and ``event`` are arrays of the evaluation set; ``train_time`` and
``train_event`` describe the training set, whose censoring distribution the IPCW estimators
(Uno's C, time-dependent AUC, Brier score) need. A risk score is higher for an earlier event.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["harrell_c", "uno_c", "time_dependent_auc", "integrated_brier", "kaplan_meier_at", "Calibration", "calibration_at"]


def _surv(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    from sksurv.util import Surv

    return Surv.from_arrays(np.asarray(event, dtype=bool), np.asarray(time, dtype=float))


def harrell_c(event: np.ndarray, time: np.ndarray, score: np.ndarray) -> float:
    """Harrell's concordance index (ties in score count one half)."""
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(np.asarray(event, dtype=bool), np.asarray(time, dtype=float), np.asarray(score, dtype=float))[0])


def uno_c(train_event: np.ndarray, train_time: np.ndarray, event: np.ndarray, time: np.ndarray, score: np.ndarray, tau: float) -> float:
    """Uno's IPCW concordance, truncated at ``tau`` (must lie inside the training follow-up)."""
    from sksurv.metrics import concordance_index_ipcw

    return float(concordance_index_ipcw(_surv(train_event, train_time), _surv(event, time), np.asarray(score, dtype=float), tau=tau)[0])


def time_dependent_auc(train_event: np.ndarray, train_time: np.ndarray, event: np.ndarray, time: np.ndarray,
                       risk_at: np.ndarray, times: np.ndarray) -> list[float]:
    """Cumulative/dynamic AUC at each of ``times``; ``risk_at`` shape = (n, len(times)) or (n,)."""
    from sksurv.metrics import cumulative_dynamic_auc

    auc, _ = cumulative_dynamic_auc(_surv(train_event, train_time), _surv(event, time), np.asarray(risk_at, dtype=float), np.asarray(times, dtype=float))
    return [float(a) for a in auc]


def integrated_brier(train_event: np.ndarray, train_time: np.ndarray, event: np.ndarray, time: np.ndarray,
                     survival: np.ndarray, times: np.ndarray) -> float:
    """Integrated Brier score over ``times``; ``survival`` shape = (n, len(times))."""
    from sksurv.metrics import integrated_brier_score

    return float(integrated_brier_score(_surv(train_event, train_time), _surv(event, time), np.asarray(survival, dtype=float), np.asarray(times, dtype=float)))


def kaplan_meier_at(event: np.ndarray, time: np.ndarray, t: float) -> float:
    """Kaplan-Meier S(t) (1.0 before the first event)."""
    from sksurv.nonparametric import kaplan_meier_estimator

    x, y = kaplan_meier_estimator(np.asarray(event, dtype=bool), np.asarray(time, dtype=float))
    i = np.searchsorted(x, t, side="right") - 1
    return float(y[i]) if i >= 0 else 1.0


@dataclass(frozen=True)
class Calibration:
    """Calibration of predicted risk at ``horizon``.

    predicted, observed : per risk group (deciles of predicted risk), mean predicted risk and the
        Kaplan-Meier risk 1 - S(horizon) observed in that group.
    slope : coefficient of a Cox model, on the evaluation set censored at ``horizon``, whose only
        covariate is the predicted log cumulative hazard log(-log(1 - risk)); 1 is ideal, below 1
        means predictions too extreme, above 1 too timid.
    observed_overall, predicted_overall : calibration-in-the-large.
    """

    horizon: float
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    n: tuple[int, ...]
    slope: float
    predicted_overall: float
    observed_overall: float

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_at(event: np.ndarray, time: np.ndarray, risk: np.ndarray, horizon: float, groups: int = 10) -> Calibration:
    """Deciles of predicted ``risk`` (= 1 - S(horizon)) against Kaplan-Meier, and the calibration slope."""
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    risk = np.clip(np.asarray(risk, dtype=float), 1e-9, 1 - 1e-9)
    order = np.argsort(risk, kind="mergesort")
    pred, obs, counts = [], [], []
    for idx in np.array_split(order, groups):
        pred.append(float(risk[idx].mean()))
        obs.append(1 - kaplan_meier_at(event[idx], time[idx], horizon))
        counts.append(int(idx.size))
    # Administrative censoring at the horizon: the slope is about this horizon's risk only.
    e_h = event & (time <= horizon)
    t_h = np.minimum(time, horizon)
    x = np.log(-np.log1p(-risk))[:, None]
    slope = float(CoxPHSurvivalAnalysis(alpha=0.0, ties="breslow").fit(x, _surv(e_h, t_h)).coef_[0])
    return Calibration(horizon=float(horizon), predicted=tuple(pred), observed=tuple(obs), n=tuple(counts), slope=slope,
                       predicted_overall=float(risk.mean()), observed_overall=1 - kaplan_meier_at(event, time, horizon))
