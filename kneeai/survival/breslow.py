"""Breslow's estimator of the cumulative baseline hazard, shared by the Cox and DeepSurv models.

Both models predict a log relative hazard ``f(x)``; the absolute curve is
``S(t | x) = exp(-H0(t) * exp(f(x)))`` with ``H0`` from this module, evaluated on a fixed time grid
so that a fitted model is a handful of numbers that serialise as JSON.
"""
from __future__ import annotations

import numpy as np

__all__ = ["breslow_cumulative_hazard", "default_grid", "interpolate_hazard", "BreslowSurvival"]


def default_grid(max_time: float, points: int = 181) -> np.ndarray:
    """Evenly spaced times from 0 to ``max_time`` (the longest follow-up), shape = (points,)."""
    return np.linspace(0.0, float(max_time), points)


def breslow_cumulative_hazard(log_risk: np.ndarray, time: np.ndarray, event: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """H0 at ``grid``, shape = (len(grid),): scikit-survival's Breslow estimator, read as a step
    function (0 before the first event).

    ``H0(t) = sum over event times s <= t of d(s) / sum_{j: t_j >= s} exp(f(x_j))``, with tied
    events counted together.
    """
    from sksurv.linear_model.coxph import BreslowEstimator

    log_risk = np.asarray(log_risk, dtype=float)
    # Centring cancels out of S(t | x) but keeps exp() finite for a network's raw outputs.
    shift = float(np.max(log_risk)) if log_risk.size else 0.0
    step = BreslowEstimator().fit(log_risk - shift, np.asarray(event, dtype=bool), np.asarray(time, dtype=float))
    h = step.cum_baseline_hazard_
    idx = np.searchsorted(h.x, np.asarray(grid, dtype=float), side="right") - 1
    h0 = np.where(idx >= 0, h.y[np.clip(idx, 0, None)], 0.0)
    return h0 * np.exp(-shift)


def interpolate_hazard(grid: np.ndarray, h0: np.ndarray, times: np.ndarray) -> np.ndarray:
    """H0 at ``times`` by linear interpolation between grid points; ``h0`` may be (..., len(grid))."""
    grid = np.asarray(grid, dtype=float)
    times = np.asarray(times, dtype=float)
    h0 = np.asarray(h0, dtype=float)
    pos = np.clip(np.searchsorted(grid, times, side="right") - 1, 0, grid.size - 2)
    w = np.clip((times - grid[pos]) / (grid[pos + 1] - grid[pos]), 0.0, 1.0)
    return h0[..., pos] * (1 - w) + h0[..., pos + 1] * w


class BreslowSurvival:
    """S(t | x) = exp(-H0(t) exp(f(x))) for any model with a Breslow baseline.

    The host class provides ``predict(X)`` (log relative hazard, shape = (n,)), ``grid_`` and
    ``cum_baseline_hazard_``; Cox and DeepSurv differ only in ``predict``.
    """

    grid_: np.ndarray
    cum_baseline_hazard_: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - provided by the host
        raise NotImplementedError

    def survival_at(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        """S(t | x), shape = (n, len(times))."""
        h0 = interpolate_hazard(self.grid_, self.cum_baseline_hazard_, times)
        return np.exp(-np.exp(self.predict(X))[:, None] * h0[None, :])

    def predict_survival_function(self, X: np.ndarray) -> np.ndarray:
        """One :class:`sksurv.functions.StepFunction` per row, on the stored grid."""
        from sksurv.functions import StepFunction

        s = self.survival_at(X, self.grid_)
        return np.array([StepFunction(self.grid_, row) for row in s])
