"""Refit on your data: upload a right-censored table, map its columns, fit Cox or DeepSurv, apply it to the patient."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.survival.charts import curve_figure, model_colour
from kneeai.survival.ensemble import KINDS
from kneeai.survival.refit import DEFAULT_MEMBERS, fit_table, guess_columns, read_table, suggest_categorical
from kneeai.survival.risk import format_risk, model_label
from kneeai.survival.simulate import simulate, simulate_pumps
from ui.state import Key, get, lang, put
from ui.widgets import page_header, show_error, tr

page_header("nav.risk_refit")
language = lang()
st.write(tr("refit.intro"))

# Example tables: the knee one is the simulated cohort, the other shows the refit is not knee-specific.
EXAMPLES = {"knee": lambda: simulate(2000, seed=1), "generic": lambda: simulate_pumps(1500, seed=1)}

upload = st.file_uploader(tr("refit.upload"), type=["csv", "tsv", "txt"], key="refit_upload")
example = st.selectbox(tr("refit.example"), ["none", *EXAMPLES], format_func=lambda k: t(f"refit.example.{k}", language), key="refit_example")
source = f"upload:{upload.file_id}" if upload is not None else (f"example:{example}" if example != "none" else None)
if source is not None and source != st.session_state.get("refit_source"):
    try:
        table = read_table(upload.getvalue()) if upload is not None else EXAMPLES[example]()
        put(Key.REFIT_TABLE, table)
        st.session_state["refit_source"] = source
    except KneeAIError as exc:
        show_error(exc)

table: pd.DataFrame | None = get(Key.REFIT_TABLE)
if table is not None:
    st.caption(tr("refit.preview") + f" ({len(table)} × {table.shape[1]})")
    st.dataframe(table.head(6), hide_index=True, width="stretch")
    cols = list(table.columns)
    guess_t, guess_e = guess_columns(table)
    c1, c2, c3 = st.columns(3)
    time_col = c1.selectbox(tr("refit.time_col"), cols, index=cols.index(guess_t), key="refit_time")
    event_col = c2.selectbox(tr("refit.event_col"), cols, index=cols.index(guess_e), key="refit_event")
    unit = c3.text_input(tr("refit.time_unit"), value=time_col if time_col.lower() in ("years", "months", "days", "hours") else "",
                         key="refit_unit")
    candidates = [c for c in cols if c not in (time_col, event_col)]
    features = st.multiselect(tr("refit.features"), candidates, default=candidates, key="refit_features")
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(table[c])]
    categorical = st.multiselect(tr("refit.categorical"), numeric, default=suggest_categorical(table, numeric), key="refit_categorical")
    k1, k2 = st.columns(2)
    kind = k1.radio(tr("refit.kind"), list(KINDS), format_func=lambda k: model_label(k, language), horizontal=True, key="refit_kind")
    members = k2.slider(tr("refit.members"), 0, 30, DEFAULT_MEMBERS[kind], key=f"refit_members_{kind}")
    if st.button(tr("refit.fit"), type="primary", key="refit_fit"):
        try:
            with st.spinner(tr("refit.fitting")):
                report = fit_table(table, time=time_col, event=event_col, features=features, kind=kind, categorical=categorical,
                                   n_boot=members, time_unit=unit, simulated=st.session_state.get("refit_source") == "example:knee")
            put(Key.CUSTOM_SURVIVAL_MODEL, report.model)
        except KneeAIError as exc:
            show_error(exc)

model = get(Key.CUSTOM_SURVIVAL_MODEL)
st.subheader(tr("refit.patient_title"))
if model is None:
    st.info(tr("refit.no_model"))
    st.stop()

meta = model.meta
st.success(tr("refit.fitted", model=model_label(model.kind, language), rows=meta["n_rows"], events=meta["n_events"],
              hrows=meta.get("holdout_rows", 0), hevents=meta.get("holdout_events", 0), c=f"{meta.get('c_index_holdout', float('nan')):.3f}"))
if model.simulated:
    st.warning(tr("risk.simulated_banner"), icon=":material/science:")
st.caption(tr("refit.patient_caption"))

# The current patient, by the names the risk page uses; the grade in force if one was given there.
clinical: dict[str, Any] = dict(get(Key.CLINICAL) or {})
risk = get(Key.RISK)
known = {"age": clinical.get("age"), "bmi": clinical.get("bmi"), "womac_pain": clinical.get("womac_pain"), "sex": clinical.get("sex"),
         "kl": risk.inputs.kl_grade if risk is not None else clinical.get("kl_grade")}


def _start_number(name: str) -> float:
    try:
        x = float(known.get(name))
        if not math.isnan(x):
            return x
    except (TypeError, ValueError):
        pass
    return float(model.encoder.reference[name])


row: dict[str, Any] = {}
inputs = st.columns(min(4, max(1, len(model.features))))
for i, name in enumerate(model.features):
    box = inputs[i % len(inputs)]
    if name in model.encoder.numeric:
        row[name] = box.number_input(name, value=_start_number(name), key=f"refit_in_{name}")
    else:
        levels = list(model.encoder.categorical[name])
        start = str(known.get(name)) if known.get(name) is not None else str(model.encoder.reference[name])
        if start.endswith(".0"):
            start = start[:-2]
        row[name] = box.selectbox(name, levels, index=levels.index(start) if start in levels else 0, key=f"refit_in_{name}")

unit = meta.get("time_unit") or ""
horizon = st.slider(tr("refit.horizon") + (f" ({unit})" if unit else ""), 0.0, float(model.max_time),
                    float(round(model.max_time / 2, 1)), key="refit_horizon")
try:
    times = np.unique(np.append(np.linspace(0, model.max_time, 101), horizon))
    point, low, high = model.survival_band(pd.DataFrame([row]), times)
except KneeAIError as exc:
    show_error(exc)
    st.stop()
i = int(np.searchsorted(times, horizon))
st.markdown("**" + tr("refit.risk_line", time=f"{horizon:g}", unit=unit, risk=format_risk(1 - point[0, i]),
                      low=format_risk(1 - high[0, i]), high=format_risk(1 - low[0, i])) + "**")
title = tr("refit.curve_title") + (" · " + tr("risk.simulated_short") if model.simulated else "")
fig = curve_figure([{"label": model_label(model.name, language), "times": times.tolist(), "survival": point[0].tolist(),
                     "low": low[0].tolist(), "high": high[0].tolist(), "colour": model_colour(2)}],
                   title, tr("refit.time_axis", unit=unit or "—"), tr("refit.survival_axis"))
st.plotly_chart(fig, width="stretch", key="refit_curve")
