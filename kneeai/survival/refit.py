"""Refit Cox or DeepSurv on any right-censored table, and predict from a saved model.

    python -m kneeai survival fit table.csv --time months --event died --features age,stage,drug --out model.json
    python -m kneeai survival predict model.json new.csv --times 12,24 --json

Nothing here knows about knees: the columns are whatever the table has. Categorical columns (text,
or named with ``categorical``) are one-hot encoded; missing or invalid values are refused with the
rows named. The fit holds out ``holdout`` of the rows (stratified by event) and reports Harrell's
C-index on them; the saved model is the one fitted on the remaining rows, so the number describes
the model you keep.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Sequence

import numpy as np
import pandas as pd

from kneeai.errors import InvalidSurvivalData
from kneeai.survival.demo import DEMO_FILES, load_demo_models
from kneeai.survival.encoding import TableEncoder, survival_target
from kneeai.survival.ensemble import SurvivalModel, interval
from kneeai.survival.metrics import harrell_c

__all__ = ["FitReport", "guess_columns", "suggest_categorical", "read_table", "fit_table", "predict_table", "load_model", "DEFAULT_MEMBERS", "DEMO_PREFIX"]

# Bootstrap members per kind when the caller does not say: enough for a stable 95% band on a
# table of a few thousand rows, few enough that a DeepSurv refit stays within a minute.
DEFAULT_MEMBERS: dict[str, int] = {"cox": 20, "deepsurv": 5}
# ``predict demo:cox ...`` uses a shipped demo model instead of a file.
DEMO_PREFIX = "demo:"


@dataclass(frozen=True)
class FitReport:
    """What a refit produced: the model (fitted on the training rows) and its held-out C-index."""

    model: SurvivalModel
    c_index_holdout: float
    n_train: int
    n_holdout: int
    events_train: int
    events_holdout: int


def read_table(source: str | Path | bytes | IO[Any]) -> pd.DataFrame:
    """A CSV (comma, semicolon or tab separated, sniffed) as a DataFrame; empty cells stay missing."""
    try:
        data = source if isinstance(source, bytes) else (Path(source).read_bytes() if isinstance(source, (str, Path)) else source.read())
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            df = pd.read_csv(io.BytesIO(data), sep=None, engine="python")
        except csv.Error:  # the sniffer gives up on one-column or empty files; a comma is then the honest guess
            df = pd.read_csv(io.BytesIO(data))
    except (OSError, ValueError, UnicodeDecodeError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidSurvivalData(key="refit.err.unreadable_csv", detail=str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if df.empty:
        raise InvalidSurvivalData(key="refit.err.unreadable_csv", detail="no rows")
    df.columns = [str(c).strip() for c in df.columns]
    return df


_TIME_NAMES = ("time", "years", "months", "days", "hours", "duration", "follow_up", "followup", "survival_time", "futime", "t")
_EVENT_NAMES = ("event", "status", "died", "death", "dead", "failed", "failure", "tkr", "outcome", "e", "fstat")


def guess_columns(df: pd.DataFrame) -> tuple[str, str]:
    """Likely (time, event) columns by name, falling back to the first two columns: a starting point
    for the app's column mapping, which the user confirms."""
    cols = list(df.columns)
    low = {c.lower(): c for c in cols}
    time = next((low[n] for n in _TIME_NAMES if n in low), cols[0])
    event = next((low[n] for n in _EVENT_NAMES if n in low and low[n] != time), next((c for c in cols if c != time), cols[0]))
    return time, event


def suggest_categorical(df: pd.DataFrame, columns: Sequence[str], max_levels: int = 5) -> list[str]:
    """Numeric columns that look like codes rather than quantities: whole numbers with at most
    ``max_levels`` distinct values (a KL grade, a site number). A suggestion the user confirms."""
    out = []
    for c in columns:
        s = df[c].dropna()
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.nunique() <= max_levels \
                and np.all(np.mod(s.to_numpy(dtype=float), 1) == 0):
            out.append(c)
    return out


def _split(event: np.ndarray, holdout: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out rows, the same share of events and of censored rows."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(event.size, dtype=bool)
    for flag in (True, False):
        idx = np.flatnonzero(event == flag)
        mask[rng.choice(idx, size=int(round(holdout * idx.size)), replace=False)] = True
    return mask


def fit_table(df: pd.DataFrame, *, time: str, event: str, features: Sequence[str], kind: str = "cox",
              categorical: Iterable[str] = (), n_boot: int | None = None, holdout: float = 0.2, seed: int = 0,
              time_unit: str = "", params: dict[str, Any] | None = None, simulated: bool = False) -> FitReport:
    """Check the table, fit on (1 - holdout) of the rows and report the C-index on the rest.

    ``simulated`` marks a model fitted on simulated data (e.g. the example knee cohort), so that
    everything it says carries the "simulated cohort" label.
    """
    features = [f for f in features if f]
    categorical = tuple(categorical)
    if time in features or event in features:
        raise InvalidSurvivalData(key="refit.err.target_as_feature")
    t, e = survival_target(df, time, event)
    # Checked and levelled on the whole table, so errors name the rows of the file as given.
    encoder = TableEncoder.fit(df, features, categorical)
    encoder.transform(df)
    test = _split(e, holdout, seed)
    if e[test].sum() < 1 or e[~test].sum() < 2:
        raise InvalidSurvivalData(key="refit.err.too_few_events", events=int(e.sum()), rows=len(df), minimum=10)
    train_df, test_df = df.loc[~test].reset_index(drop=True), df.loc[test].reset_index(drop=True)
    model = SurvivalModel.fit(train_df, time=time, event=event, features=features, kind=kind, categorical=categorical,
                              n_boot=DEFAULT_MEMBERS.get(kind, 0) if n_boot is None else n_boot, seed=seed, params=params,
                              name=f"custom_{kind}", time_unit=time_unit, encoder=encoder, simulated=simulated)
    c = harrell_c(e[test], t[test], model.log_hazard(test_df))
    model.meta.update({"c_index_holdout": c, "holdout_rows": int(test.sum()), "holdout_events": int(e[test].sum())})
    return FitReport(model=model, c_index_holdout=c, n_train=int((~test).sum()), n_holdout=int(test.sum()),
                     events_train=int(e[~test].sum()), events_holdout=int(e[test].sum()))


def load_model(spec: str | Path) -> SurvivalModel:
    """A model file written by ``survival fit``, or ``demo:cox`` / ``demo:deepsurv`` for the shipped ones."""
    spec = str(spec)
    if spec.startswith(DEMO_PREFIX):
        kind = spec[len(DEMO_PREFIX):]
        if kind not in DEMO_FILES:
            raise InvalidSurvivalData(key="refit.err.unknown_kind", kind=kind, kinds=", ".join(DEMO_FILES))
        return dict(zip(("cox", "deepsurv"), load_demo_models()))[kind]
    path = Path(spec)
    if not path.exists():
        raise InvalidSurvivalData(key="refit.err.not_a_model", path=spec)
    return SurvivalModel.load(path)


def predict_table(model: SurvivalModel, df: pd.DataFrame, times: Sequence[float]) -> list[dict[str, Any]]:
    """One record per row: ``{"row": 1-based, "risk": {"1": p, ...}, "low": {...}, "high": {...}, "simulated": bool}``.

    ``risk`` is the cumulative event probability 1 - S(t); ``low`` / ``high`` its 95% interval
    from the bootstrap members (equal to ``risk`` for a model saved without members).
    """
    t = model.check_times(times)
    point, members = model.survival(df, t)
    low_s, high_s = interval(point, members)
    labels = [f"{x:g}" for x in t]
    out = []
    for i in range(len(df)):
        out.append({"row": i + 1,
                    "risk": {k: round(float(1 - point[i, j]), 6) for j, k in enumerate(labels)},
                    "low": {k: round(float(1 - high_s[i, j]), 6) for j, k in enumerate(labels)},
                    "high": {k: round(float(1 - low_s[i, j]), 6) for j, k in enumerate(labels)},
                    "simulated": model.simulated})
    return out
