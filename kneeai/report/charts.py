"""Plotly figures for the patient record: the visit timeline and the joint-space-width profiles.

Pure functions: records in, a figure out (the pages draw them; the library never imports Streamlit).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kneeai.grading.charts import GRADE_COLOURS
from kneeai.i18n import t
from kneeai.imaging.jsw import JSWProfile
from kneeai.palette import INK, MODEL_COLOURS, MUTED
from kneeai.survival.risk import model_label

__all__ = ["timeline_figure", "jsw_figure", "TIMELINE_HORIZON"]

# The horizon the timeline plots TKR risk at (one of RISK_HORIZONS_YEARS).
TIMELINE_HORIZON = 5.0


def timeline_figure(visits: Sequence, lang: str, height: int = 320) -> go.Figure:
    """KL grade (model and, where set, the clinician's) and TKR risk over time for ONE knee.

    visits : :class:`~kneeai.store.registry.VisitRecord` of the same knee, oldest first.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    dates = [v.visit_date for v in visits]
    fig.add_trace(go.Scatter(x=dates, y=[v.effective_grade for v in visits], mode="lines+markers", name=t("patient.grade_in_force", lang),
                             line=dict(color=INK, width=2),
                             marker=dict(size=13, color=[GRADE_COLOURS[v.effective_grade] for v in visits], line=dict(color=INK, width=1))),
                  secondary_y=False)
    overridden = [v for v in visits if v.override is not None]
    if overridden:
        fig.add_trace(go.Scatter(x=[v.visit_date for v in overridden], y=[v.grade.kl_grade for v in overridden], mode="markers",
                                 name=t("patient.model_grade", lang), marker=dict(size=11, symbol="circle-open", color=MUTED, line=dict(width=2))),
                      secondary_y=False)
    names: list[str] = []
    top = 0.0
    for v in visits:
        for m in v.risk.models if v.risk else ():
            if m.model_name not in names:
                names.append(m.model_name)
    for i, name in enumerate(names):
        pts = [(v.visit_date, m.risk_at.get(TIMELINE_HORIZON, (np.nan,))[0]) for v in visits for m in (v.risk.models if v.risk else ())
               if m.model_name == name]
        top = max([top, *(100 * p[1] for p in pts if np.isfinite(p[1]))])
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[100 * p[1] for p in pts], mode="lines+markers", line=dict(dash="dot", color=MODEL_COLOURS[i % len(MODEL_COLOURS)]),
                                     name=t("patient.risk_series", lang, model=model_label(name, lang), years=f"{TIMELINE_HORIZON:g}")), secondary_y=True)
    fig.update_yaxes(title_text=t("patient.kl_axis", lang), range=[-0.3, 4.3], tickvals=list(range(5)), secondary_y=False)
    # The risk axis ends at a round number above the highest risk, so small risks are not flattened.
    risk_max = min(100.0, max(10.0, 10 * np.ceil(top * 1.15 / 10)))
    fig.update_yaxes(title_text=t("patient.risk_axis", lang, years=f"{TIMELINE_HORIZON:g}"), range=[0, risk_max], secondary_y=True,
                     showgrid=False, ticksuffix="%", tickvals=list(np.linspace(0, risk_max, 5)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=30), plot_bgcolor="white",
                      legend=dict(orientation="h", y=-0.25), hovermode="x unified")
    fig.update_xaxes(title_text=t("patient.date_axis", lang))
    return fig


def jsw_figure(profiles: Sequence[tuple[str, JSWProfile]], lang: str, height: int = 280) -> go.Figure:
    """JSW across the joint for each (label, profile)."""
    fig = go.Figure()
    for i, (label, p) in enumerate(profiles):
        # Break the line between the compartments (the notch is not measured).
        x, y = np.asarray(p.positions_mm, float), np.asarray(p.width_mm, float)
        gaps = np.nonzero(np.diff(x) > 2 * np.median(np.diff(x)))[0] + 1 if len(x) > 2 else []
        x, y = np.insert(x, gaps, np.nan), np.insert(y, gaps, np.nan)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label, connectgaps=False,
                                 line=dict(color=MODEL_COLOURS[i % len(MODEL_COLOURS)], width=2)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=30), plot_bgcolor="white", title=t("patient.jsw_title", lang),
                      xaxis_title=t("patient.jsw_x", lang), yaxis_title=t("patient.jsw_y", lang), legend=dict(orientation="h", y=-0.3))
    return fig
