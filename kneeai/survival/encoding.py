"""From a survival table (any right-censored CSV) to the numbers a model fits, with row-level errors.

:class:`TableEncoder` standardises numeric columns and one-hot encodes categorical ones (the first
level is the reference and gets no column). :func:`survival_target` checks the time and event
columns. Every problem is an :class:`~kneeai.errors.InvalidSurvivalData` whose message names the
column and the data rows (the first data row under the header is row 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from kneeai.errors import InvalidSurvivalData

__all__ = ["TableEncoder", "survival_target", "row_list", "as_level", "MIN_EVENTS"]

# Fewer events than this cannot support even a one-covariate Cox model's held-out C-index.
MIN_EVENTS = 10
# A text column with more distinct values than this is more likely an identifier than a category.
MAX_LEVELS = 50
_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}


def row_list(mask: np.ndarray | pd.Series, limit: int = 10) -> str:
    """'3, 17, 40' (1-based data rows), cut after ``limit`` with the count of the rest."""
    rows = (np.flatnonzero(np.asarray(mask)) + 1).tolist()
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f" (+{len(rows) - limit})" if len(rows) > limit else "")


def as_level(value: Any) -> str:
    """A categorical value as its level string: 3, 3.0 and "3" are all level "3"."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _missing(series: pd.Series) -> np.ndarray:
    s = series
    blank = s.astype(str).str.strip().isin({"", "nan", "NaN", "NA", "N/A", "None", "null"}) if s.dtype == object else False
    return np.asarray(s.isna() | blank)


def _is_blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(np.isnan(v))
    return isinstance(v, str) and v.strip() in {"", "nan", "NaN", "NA", "N/A", "None", "null"}


def _numeric(series: pd.Series, column: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise InvalidSurvivalData(key="refit.err.bad_numbers", column=column, rows=row_list(bad))
    return values


def _looks_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    present = series[~_missing(series)]
    if present.empty:
        return True
    return float(pd.to_numeric(present, errors="coerce").notna().mean()) >= 0.9


def survival_target(df: pd.DataFrame, time: str, event: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked (time, event) arrays: time finite and > 0, event 0/1 (or true/false, yes/no)."""
    missing = [c for c in (time, event) if c not in df.columns]
    if missing:
        raise InvalidSurvivalData(key="refit.err.missing_columns", columns=", ".join(missing), available=", ".join(map(str, df.columns)))
    t = pd.to_numeric(df[time], errors="coerce").to_numpy(dtype=float)
    bad_t = ~np.isfinite(t) | (t <= 0)
    if bad_t.any():
        raise InvalidSurvivalData(key="refit.err.bad_time", column=time, rows=row_list(bad_t))
    raw = df[event].map(lambda v: as_level(v).lower() if not (isinstance(v, float) and np.isnan(v)) else "")
    e = raw.isin(_TRUE).to_numpy()
    bad_e = ~(e | raw.isin(_FALSE).to_numpy())
    if bad_e.any():
        raise InvalidSurvivalData(key="refit.err.bad_event", column=event, rows=row_list(bad_e))
    if e.sum() < MIN_EVENTS:
        raise InvalidSurvivalData(key="refit.err.too_few_events", events=int(e.sum()), rows=len(df), minimum=MIN_EVENTS)
    return t, e


@dataclass
class TableEncoder:
    """Column roles, scaling and levels learnt from a training table.

    numeric : name -> (mean, sd); categorical : name -> levels, the first one the reference.
    reference : a typical row (median of each numeric column, most frequent level of each
        categorical one), the patient that contributions are measured against.
    """

    features: tuple[str, ...] = ()
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, df: pd.DataFrame, features: Iterable[str], categorical: Iterable[str] = ()) -> "TableEncoder":
        features = tuple(features)
        if not features:
            raise InvalidSurvivalData(key="refit.err.no_features")
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise InvalidSurvivalData(key="refit.err.missing_columns", columns=", ".join(missing), available=", ".join(map(str, df.columns)))
        forced = set(categorical)
        enc = cls(features=features)
        for col in features:
            s = df[col]
            gaps = _missing(s)
            if gaps.any():
                raise InvalidSurvivalData(key="refit.err.missing_values", column=col, rows=row_list(gaps))
            if col not in forced and _looks_numeric(s):
                v = _numeric(s, col)
                sd = float(np.std(v))
                if sd == 0:
                    raise InvalidSurvivalData(key="refit.err.constant", column=col)
                enc.numeric[col] = (float(np.mean(v)), sd)
                enc.reference[col] = float(np.median(v))
            else:
                levels_seen = s.map(as_level)
                counts = levels_seen.value_counts()
                if len(counts) < 2:
                    raise InvalidSurvivalData(key="refit.err.constant", column=col)
                if len(counts) > MAX_LEVELS:
                    raise InvalidSurvivalData(key="refit.err.too_many_levels", column=col, n=len(counts))
                levels = sorted(counts.index, key=_level_sort_key)
                enc.categorical[col] = tuple(levels)
                enc.reference[col] = str(counts.index[0])
        return enc

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the design-matrix columns, e.g. ``("age", "sex=M", "kl=1", ...)``."""
        out: list[str] = []
        for col in self.features:
            if col in self.numeric:
                out.append(col)
            else:
                out += [f"{col}={lv}" for lv in self.categorical[col][1:]]
        return tuple(out)

    def feature_slices(self) -> dict[str, slice]:
        """Design-matrix columns of each input feature (a categorical feature spans several)."""
        out, start = {}, 0
        for col in self.features:
            width = 1 if col in self.numeric else len(self.categorical[col]) - 1
            out[col] = slice(start, start + width)
            start += width
        return out

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Design matrix, shape = (len(df), len(columns)), float64."""
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise InvalidSurvivalData(key="refit.err.missing_columns", columns=", ".join(missing), available=", ".join(map(str, df.columns)))
        # Plain lists and numpy rather than pandas string methods: the risk panel encodes a handful
        # of rows per request, where pandas' per-call overhead was most of the latency.
        parts: list[np.ndarray] = []
        for col in self.features:
            values = df[col].tolist()
            if col in self.numeric:
                mean, sd = self.numeric[col]
                try:
                    x = np.asarray(values, dtype=float)
                except (TypeError, ValueError):
                    x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
                bad = ~np.isfinite(x)
                if bad.any():
                    raise InvalidSurvivalData(key="refit.err.bad_numbers", column=col, rows=row_list(bad))
                parts.append(((x - mean) / sd)[:, None])
                continue
            gaps = np.array([_is_blank(v) for v in values], dtype=bool)
            if gaps.any():
                raise InvalidSurvivalData(key="refit.err.missing_values", column=col, rows=row_list(gaps))
            levels = self.categorical[col]
            index = {lv: i for i, lv in enumerate(levels)}
            codes = np.array([index.get(as_level(v), -1) for v in values])
            unknown = codes < 0
            if unknown.any():
                seen = sorted({as_level(v) for v, u in zip(values, unknown) if u})
                raise InvalidSurvivalData(key="refit.err.unknown_level", column=col, values=", ".join(seen[:5]), rows=row_list(unknown))
            onehot = np.zeros((len(values), len(levels) - 1))
            rows = np.flatnonzero(codes > 0)
            onehot[rows, codes[rows] - 1] = 1.0
            parts.append(onehot)
        return np.hstack(parts) if parts else np.zeros((len(df), 0))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "numeric": {k: list(v) for k, v in self.numeric.items()},
                "categorical": {k: list(v) for k, v in self.categorical.items()}, "reference": self.reference}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TableEncoder":
        return cls(features=tuple(d["features"]), numeric={k: (float(v[0]), float(v[1])) for k, v in d["numeric"].items()},
                   categorical={k: tuple(v) for k, v in d["categorical"].items()}, reference=dict(d["reference"]))


def _level_sort_key(level: str) -> tuple[int, float, str]:
    # Numbers in numeric order (KL "0" < "4" < "10"), then text.
    try:
        return (0, float(level), "")
    except ValueError:
        return (1, 0.0, level)
