"""A fitted, shippable survival model: table encoder + point estimate + bootstrap members.

The point estimate is fitted on all rows; ``n_boot`` members are fitted on bootstrap resamples and
give the 95% interval of S(t) (2.5th and 97.5th percentiles across members). The whole thing is
saved without pickle: a JSON file (encoder, time grid, Cox coefficients or DeepSurv architecture,
baselines) and, for DeepSurv, a tensor dict next to it loaded with ``torch.load(weights_only=True)``
whose sha256 the JSON records.
"""
from __future__ import annotations

import json
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

import numpy as np
import pandas as pd

from kneeai.errors import InvalidSurvivalData
from kneeai.survival.breslow import default_grid
from kneeai.survival.cox import CoxPH
from kneeai.survival.deepsurv import DeepSurv
from kneeai.survival.encoding import TableEncoder, survival_target

__all__ = ["SurvivalModel", "Estimator", "KINDS", "FORMAT", "make_estimator", "interval"]

FORMAT = "kneeai-survival/1"
KINDS: tuple[str, ...] = ("cox", "deepsurv")
Estimator = Union[CoxPH, DeepSurv]


def make_estimator(kind: str, params: dict[str, Any] | None = None, seed: int = 0) -> Estimator:
    params = dict(params or {})
    if kind == "cox":
        return CoxPH(**params)
    if kind == "deepsurv":
        return DeepSurv(**{**params, "seed": seed})
    raise InvalidSurvivalData(key="refit.err.unknown_kind", kind=kind, kinds=", ".join(KINDS))


def interval(point: np.ndarray, members: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile interval across ``members`` along ``axis``, widened to contain ``point``.

    With few members a percentile can sit just inside the point estimate; a band that excludes its
    own line would confuse more than it informs.
    """
    if members.shape[axis] == 0:
        return point.copy(), point.copy()
    low = np.minimum(np.percentile(members, 2.5, axis=axis), point)
    high = np.maximum(np.percentile(members, 97.5, axis=axis), point)
    return low, high


@dataclass
class SurvivalModel:
    """One model kind fitted on one table, with its bootstrap members.

    meta : name, simulated (bool), time_unit, n_rows, n_events, fitted (ISO time), seed, params,
        and c_index_holdout when the fit held rows out.
    model_id, sha256 : filled in when loaded from a file (the JSON's name and hash).
    """

    kind: str
    encoder: TableEncoder
    grid: np.ndarray
    point: Estimator
    members: list[Estimator]
    time_column: str
    event_column: str
    meta: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""
    sha256: str = ""

    # -- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, df: pd.DataFrame, *, time: str, event: str, features: Iterable[str], kind: str = "cox",
            categorical: Iterable[str] = (), n_boot: int = 20, seed: int = 0, params: dict[str, Any] | None = None,
            simulated: bool = False, name: str | None = None, time_unit: str = "", grid: np.ndarray | None = None,
            encoder: TableEncoder | None = None) -> "SurvivalModel":
        """Fit the point model on all of ``df`` and ``n_boot`` bootstrap members.

        ``encoder`` (optional) is a :class:`TableEncoder` fitted beforehand, e.g. on a whole table
        of which ``df`` is the training part, so that a level seen only in held-out rows is known.
        """
        from sksurv.util import Surv

        if kind not in KINDS:
            raise InvalidSurvivalData(key="refit.err.unknown_kind", kind=kind, kinds=", ".join(KINDS))
        t, e = survival_target(df, time, event)
        encoder = encoder or TableEncoder.fit(df, features, categorical)
        X = encoder.transform(df)
        y = Surv.from_arrays(e, t)
        grid = default_grid(t.max()) if grid is None else np.asarray(grid, dtype=float)
        started = _time.perf_counter()
        point = make_estimator(kind, params, seed).fit(X, y, grid)
        rng = np.random.default_rng(seed)
        members: list[Estimator] = []
        for b in range(n_boot):
            idx = rng.integers(0, len(X), len(X))
            if e[idx].sum() < 2:
                continue
            members.append(make_estimator(kind, params, seed + 1 + b).fit(X[idx], y[idx], grid))
        meta = {"name": name or kind, "simulated": bool(simulated), "time_unit": time_unit, "n_rows": int(len(df)),
                "n_events": int(e.sum()), "fitted": _time.strftime("%Y-%m-%dT%H:%M:%S"), "seed": int(seed),
                "params": dict(params or {}), "n_boot": len(members), "fit_seconds": round(_time.perf_counter() - started, 3)}
        return cls(kind=kind, encoder=encoder, grid=grid, point=point, members=members, time_column=time, event_column=event, meta=meta)

    # -- prediction ----------------------------------------------------------------------------
    @property
    def simulated(self) -> bool:
        return bool(self.meta.get("simulated", False))

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.kind))

    @property
    def max_time(self) -> float:
        return float(self.grid[-1])

    @property
    def features(self) -> tuple[str, ...]:
        return self.encoder.features

    def check_times(self, times: Iterable[float]) -> np.ndarray:
        times = np.asarray(list(times), dtype=float)
        beyond = times[(times > self.max_time * (1 + 1e-9)) | (times < 0)]
        if beyond.size:
            raise InvalidSurvivalData(key="refit.err.time_beyond", time=f"{beyond[0]:g}", max_time=f"{self.max_time:g}")
        return times

    def log_hazard(self, df: pd.DataFrame) -> np.ndarray:
        """Point model's log relative hazard, shape = (n,)."""
        return self.point.predict(self.encoder.transform(df))

    def survival(self, df: pd.DataFrame, times: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
        """S(t | x) from the point model, shape = (n, T), and from each member, shape = (M, n, T)."""
        return self.survival_from_design(self.encoder.transform(df), times)

    def survival_from_design(self, X: np.ndarray, times: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`survival`, for rows already encoded (``X`` from ``encoder.transform``)."""
        from kneeai.survival.breslow import interpolate_hazard

        t = self.check_times(times)
        point = self.point.survival_at(X, t)
        if not self.members:
            return point, np.zeros((0, *point.shape))
        # All members at once: one interpolation of the stacked baselines, one matrix of log hazards.
        h0 = interpolate_hazard(self.grid, self._member_baselines(), t)
        if self.kind == "cox":
            log_h = X @ self._member_coefs().T
        else:
            log_h = np.stack([m.predict(X) for m in self.members], axis=1)
        members = np.exp(-np.exp(log_h.T)[:, :, None] * h0[:, None, :])
        return point, members

    def _member_baselines(self) -> np.ndarray:
        if getattr(self, "_h0_stack", None) is None:
            self._h0_stack = np.stack([m.cum_baseline_hazard_ for m in self.members])
        return self._h0_stack

    def _member_coefs(self) -> np.ndarray:
        if getattr(self, "_coef_stack", None) is None:
            self._coef_stack = np.stack([m.coef_ for m in self.members])
        return self._coef_stack

    def survival_band(self, df: pd.DataFrame, times: Iterable[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, low, high), each shape = (n, T)."""
        point, members = self.survival(df, times)
        low, high = interval(point, members)
        return point, low, high

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from kneeai.survival.cox import _round

        return {"format": FORMAT, "kind": self.kind, "meta": self.meta, "time_column": self.time_column,
                "event_column": self.event_column, "encoder": self.encoder.to_dict(), "columns": list(self.encoder.columns),
                "grid": _round(self.grid), "point": self.point.to_dict(), "members": [m.to_dict() for m in self.members]}

    def save(self, path: Path) -> list[Path]:
        """Write ``path`` (JSON) and, for DeepSurv, ``path`` with suffix ``.pt``; returns the files written."""
        import torch

        from kneeai.manifest import sha256_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        written = []
        if self.kind == "deepsurv":
            pt = path.with_suffix(".pt")
            state = {f"point.{k}": v for k, v in self.point.state_dict().items()}
            for i, m in enumerate(self.members):
                state.update({f"member{i}.{k}": v for k, v in m.state_dict().items()})
            torch.save(state, pt)
            d["weights_file"] = pt.name
            d["weights_sha256"] = sha256_file(pt)
            written.append(pt)
        path.write_text(json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        return [path, *written]

    @classmethod
    def load(cls, path: Path, model_id: str | None = None, sha256: str | None = None) -> "SurvivalModel":
        """Read a model written by :meth:`save`. The DeepSurv tensor file must match its recorded sha256."""
        from kneeai.errors import WeightsMismatch, WeightsMissing
        from kneeai.manifest import sha256_file

        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidSurvivalData(key="refit.err.not_a_model", path=str(path)) from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InvalidSurvivalData(key="refit.err.not_a_model", path=str(path))
        grid = np.asarray(d["grid"], dtype=float)
        if d["kind"] == "cox":
            point: Estimator = CoxPH.from_dict(d["point"], grid)
            members: list[Estimator] = [CoxPH.from_dict(m, grid) for m in d["members"]]
        else:
            import torch

            pt = path.parent / d["weights_file"]
            if not pt.exists():
                raise WeightsMissing(name=pt.name)
            if sha256_file(pt) != d["weights_sha256"]:
                raise WeightsMismatch(name=pt.name)
            state = torch.load(pt, map_location="cpu", weights_only=True)

            def part(prefix: str) -> dict[str, Any]:
                return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

            point = DeepSurv.from_dict(d["point"], grid, part("point."))
            members = [DeepSurv.from_dict(m, grid, part(f"member{i}.")) for i, m in enumerate(d["members"])]
        return cls(kind=d["kind"], encoder=TableEncoder.from_dict(d["encoder"]), grid=grid, point=point, members=members,
                   time_column=d["time_column"], event_column=d["event_column"], meta=d["meta"],
                   model_id=model_id or path.stem, sha256=sha256 or sha256_file(path))
