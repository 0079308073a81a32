"""Cox proportional hazards: scikit-survival's fitter, kept as plain numbers (no pickle).

:class:`CoxPH` fits with :class:`sksurv.linear_model.CoxPHSurvivalAnalysis` and keeps only the
coefficients and the Breslow cumulative baseline hazard on a time grid, so it serialises as JSON.
It shares its interface with :class:`kneeai.survival.deepsurv.DeepSurv`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kneeai.survival.breslow import BreslowSurvival, breslow_cumulative_hazard, default_grid

__all__ = ["CoxPH", "survival_arrays"]


def survival_arrays(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time, event) from a structured array made by ``sksurv.util.Surv``."""
    names = y.dtype.names
    return np.asarray(y[names[1]], dtype=float), np.asarray(y[names[0]], dtype=bool)


class CoxPH(BreslowSurvival):
    """Linear Cox model.

    Parameters
    ----------
    alpha : ridge penalty passed to scikit-survival; the small default only keeps the fit stable
        when a category has almost no events.

    Attributes
    ----------
    coef_ : ndarray, shape = (n_features,)
        Log hazard ratio per unit of each (standardised) design column.
    grid_ : ndarray, shape = (n_grid,)
        Times at which the baseline is stored, in the table's time unit.
    cum_baseline_hazard_ : ndarray, shape = (n_grid,)
        Breslow H0 at ``grid_``.
    """

    kind = "cox"

    def __init__(self, alpha: float = 1e-3) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None) -> "CoxPH":
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        X = np.asarray(X, dtype=float)
        model = CoxPHSurvivalAnalysis(alpha=self.alpha, ties="breslow", n_iter=200)
        model.fit(X, y)
        self.coef_ = np.asarray(model.coef_, dtype=float)
        time, event = survival_arrays(y)
        self.grid_ = default_grid(time.max()) if grid is None else np.asarray(grid, dtype=float)
        self.cum_baseline_hazard_ = breslow_cumulative_hazard(X @ self.coef_, time, event, self.grid_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Log relative hazard (risk score; higher = earlier event), shape = (n,)."""
        return np.asarray(X, dtype=float) @ self.coef_

    def to_dict(self) -> dict[str, Any]:
        return {"coef": _round(self.coef_), "H0": _round(self.cum_baseline_hazard_)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], grid: np.ndarray) -> "CoxPH":
        m = cls()
        m.coef_ = np.asarray(d["coef"], dtype=float)
        m.grid_ = np.asarray(grid, dtype=float)
        m.cum_baseline_hazard_ = np.asarray(d["H0"], dtype=float)
        return m


def _round(a: np.ndarray) -> list[float]:
    # Seven significant digits: far below any difference a risk panel could show, and half the bytes.
    return [float(f"{v:.7g}") for v in np.asarray(a, dtype=float)]
