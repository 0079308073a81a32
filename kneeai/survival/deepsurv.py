"""DeepSurv (Katzman et al. 2018): a small MLP trained on the Cox partial likelihood.

Same interface as :class:`kneeai.survival.cox.CoxPH`: ``fit(X, y)`` with ``y`` from
``sksurv.util.Surv``, ``predict`` (log relative hazard), ``survival_at`` and
``predict_survival_function``. Inputs are expected standardised (the table encoder does it).
Training holds out ``val_fraction`` of the rows and stops when their partial likelihood has not
improved for ``patience`` epochs, keeping the best weights; the Breslow baseline is then estimated
on all rows.

The loss is the Breslow partial likelihood written with ``logcumsumexp``. It equals torchsurv's
``neg_partial_log_likelihood(..., ties_method="breslow")`` (a unit test checks this, with torchsurv as
a test-only dependency). Training keeps this form because its risk sets are sorted once per fit,
not once per step, and because torchsurv warns on every tied time and on event-free batches.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from kneeai.survival.breslow import BreslowSurvival, breslow_cumulative_hazard, default_grid
from kneeai.survival.cox import survival_arrays

__all__ = ["DeepSurv", "cox_partial_likelihood_loss", "RiskSets", "build_network"]


class RiskSets:
    """Sort order and tie groups of a fixed set of times, computed once per training set."""

    def __init__(self, time: torch.Tensor, event: torch.Tensor) -> None:
        self.order = torch.argsort(time, descending=True, stable=True)
        t_sorted = time[self.order]
        _, self.counts = torch.unique_consecutive(t_sorted, return_counts=True)
        self.ends = torch.cumsum(self.counts, 0) - 1
        self.event = event[self.order].to(torch.float32)
        self.n_events = self.event.sum().clamp(min=1.0)


def cox_partial_likelihood_loss(log_h: torch.Tensor, time: torch.Tensor | None = None, event: torch.Tensor | None = None,
                                risk_sets: RiskSets | None = None) -> torch.Tensor:
    """Mean negative Cox partial log-likelihood over events, Breslow ties.

    ``-(1 / d) * sum_{i: event} [f(x_i) - log sum_{j: t_j >= t_i} exp f(x_j)]``.
    """
    rs = risk_sets if risk_sets is not None else RiskSets(time, event)
    lh = log_h.reshape(-1)[rs.order]
    lcse = torch.logcumsumexp(lh, dim=0)
    # Everyone tied at t_i is in t_i's risk set: take the sum at the end of the tie group.
    lcse = lcse[rs.ends].repeat_interleave(rs.counts)
    return -((lh - lcse) * rs.event).sum() / rs.n_events


def build_network(in_features: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    # No bias: a constant shift of the log hazard cancels in the partial likelihood.
    layers.append(nn.Linear(width, 1, bias=False))
    return nn.Sequential(*layers)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    # The grading model trains on the same cores; one thread is plenty for a 1k-parameter MLP.
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class DeepSurv(BreslowSurvival):
    """Cox-likelihood MLP.

    Parameters
    ----------
    hidden : widths of the hidden layers.
    dropout : dropout after each hidden layer (training only).
    lr, weight_decay : Adam settings.
    max_epochs, patience : full-batch epochs at most, and without validation improvement.
    val_fraction : share of rows held out for early stopping (stratified by event).
    seed : initialisation and split; the same data and seed give the same network.

    Attributes
    ----------
    net_ : the trained torch module (eval mode).
    grid_, cum_baseline_hazard_ : as in :class:`~kneeai.survival.cox.CoxPH`.
    history_ : list of (epoch, train loss, validation loss).
    best_epoch_ : epoch whose weights were kept.
    """

    kind = "deepsurv"

    # Defaults chosen on the simulated cohort (40k rows): full-batch Adam at 1e-2 with weight decay
    # 1e-3 matched or beat dropout, wider layers and slower rates on held-out C-index.
    def __init__(self, hidden: tuple[int, ...] = (32, 32), dropout: float = 0.0, lr: float = 1e-2, weight_decay: float = 1e-3,
                 max_epochs: int = 400, patience: int = 50, val_fraction: float = 0.2, seed: int = 0, threads: int = 1) -> None:
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.threads = threads

    def fit(self, X: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None) -> "DeepSurv":
        X = np.asarray(X, dtype=np.float32)
        time, event = survival_arrays(y)
        rng = np.random.default_rng(self.seed)
        val = np.zeros(len(X), dtype=bool)
        for flag in (True, False):
            idx = np.flatnonzero(event == flag)
            val[rng.choice(idx, size=int(round(self.val_fraction * idx.size)), replace=False)] = True
        with _torch_threads(self.threads), torch.random.fork_rng():
            torch.manual_seed(self.seed)
            net = build_network(X.shape[1], self.hidden, self.dropout)
            xt, xv = torch.from_numpy(X[~val]), torch.from_numpy(X[val])
            rs_t = RiskSets(torch.from_numpy(time[~val]), torch.from_numpy(event[~val]))
            rs_v = RiskSets(torch.from_numpy(time[val]), torch.from_numpy(event[val]))
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            best, best_state, best_epoch, waited = float("inf"), copy.deepcopy(net.state_dict()), 0, 0
            self.history_: list[tuple[int, float, float]] = []
            for epoch in range(1, self.max_epochs + 1):
                net.train()
                opt.zero_grad()
                loss = cox_partial_likelihood_loss(net(xt), risk_sets=rs_t)
                loss.backward()
                opt.step()
                net.eval()
                with torch.no_grad():
                    v = float(cox_partial_likelihood_loss(net(xv), risk_sets=rs_v))
                self.history_.append((epoch, float(loss.detach()), v))
                if v < best - 1e-5:
                    best, best_state, best_epoch, waited = v, copy.deepcopy(net.state_dict()), epoch, 0
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
            net.load_state_dict(best_state)
            net.eval()
        self.net_ = net
        self._layers = None
        self.best_epoch_ = best_epoch
        self.grid_ = default_grid(time.max()) if grid is None else np.asarray(grid, dtype=float)
        self.cum_baseline_hazard_ = breslow_cumulative_hazard(self.predict(X), time, event, self.grid_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Log relative hazard, shape = (n,).

        Inference runs the trained layers in numpy: for a handful of rows torch's per-call and
        thread start-up costs dominate, and on cores shared with a training job they reach
        milliseconds per layer. ``predict_torch`` is the reference it is tested against.
        """
        h = np.asarray(X, dtype=np.float64)
        layers = self._numpy_layers()
        for w, b in layers[:-1]:
            h = np.maximum(h @ w.T + b, 0.0)
        w, _ = layers[-1]
        return (h @ w.T).reshape(-1)

    def predict_torch(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net_(torch.as_tensor(np.asarray(X, dtype=np.float32))).numpy().reshape(-1).astype(float)

    def _numpy_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        cached = getattr(self, "_layers", None)
        if cached is None:
            linear = [m for m in self.net_ if isinstance(m, nn.Linear)]
            cached = [(m.weight.detach().numpy().astype(np.float64),
                       m.bias.detach().numpy().astype(np.float64) if m.bias is not None else np.zeros(m.out_features))
                      for m in linear]
            self._layers = cached
        return cached

    def to_dict(self) -> dict[str, Any]:
        """Architecture and baseline; the weights travel separately as a tensor dict (``state_dict``)."""
        from kneeai.survival.cox import _round

        return {"hidden": list(self.hidden), "dropout": self.dropout, "in_features": int(self.net_[0].in_features),
                "best_epoch": int(getattr(self, "best_epoch_", 0)), "H0": _round(self.cum_baseline_hazard_)}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.net_.state_dict().items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], grid: np.ndarray, state: dict[str, torch.Tensor]) -> "DeepSurv":
        m = cls(hidden=tuple(d["hidden"]), dropout=float(d["dropout"]))
        m.net_ = build_network(int(d["in_features"]), m.hidden, m.dropout)
        m.net_.load_state_dict(state)
        m.net_.eval()
        m._layers = None
        m.best_epoch_ = int(d.get("best_epoch", 0))
        m.grid_ = np.asarray(grid, dtype=float)
        m.cum_baseline_hazard_ = np.asarray(d["H0"], dtype=float)
        return m
