"""Plotly figures for the TKR panel and its validation (pure functions: results in, figures out).

Every figure drawn from the demo models says "simulated cohort" in its title.
"""
from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go

from kneeai.i18n import t
from kneeai.palette import GRID, GUIDE, INK, MODEL_COLOURS, MUTED, hex_to_rgb
from kneeai.schemas import RiskResult

__all__ = ["survival_figure", "contributions_figure", "calibration_figure", "curve_figure", "model_colour", "Curve"]

Curve = dict[str, Any]  # {"label", "times", "survival", "low", "high", "colour", "dash"}


def model_colour(i: int) -> str:
    """Colour of the i-th model of a RiskResult (:mod:`kneeai.palette`, shared with the PDF)."""
    return MODEL_COLOURS[i % len(MODEL_COLOURS)]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = hex_to_rgb(hex_colour)
    return f"rgba({r},{g},{b},{alpha})"


def curve_figure(curves: Sequence[Curve], title: str, x_title: str, y_title: str, height: int = 380) -> go.Figure:
    """Survival curves in percent with their 95% bands (a band is skipped when it has no width)."""
    fig = go.Figure()
    for c in curves:
        x = list(c["times"])
        if c.get("low") is not None and c.get("high") is not None and any(h != lo for h, lo in zip(c["high"], c["low"])):
            fig.add_trace(go.Scatter(x=x + x[::-1], y=[100 * v for v in c["high"]] + [100 * v for v in c["low"][::-1]],
                                     fill="toself", fillcolor=_rgba(c["colour"], 0.15), line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, name=c["label"] + " 95%"))
        fig.add_trace(go.Scatter(x=x, y=[100 * v for v in c["survival"]], mode="lines", name=c["label"],
                                 line=dict(color=c["colour"], width=2.5, dash=c.get("dash", "solid")),
                                 hovertemplate="%{x:.1f}: %{y:.1f}%<extra>" + c["label"] + "</extra>"))
    low = min([min(c["low"] if c.get("low") is not None else c["survival"]) for c in curves] + [1.0])
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50, b=40), plot_bgcolor="white",
                      xaxis=dict(title=x_title, gridcolor=GRID),
                      yaxis=dict(title=y_title, range=[max(0.0, 100 * low - 3), 100.5], gridcolor=GRID),
                      legend=dict(orientation="h", yanchor="top", y=-0.18))
    return fig


def survival_figure(result: RiskResult, lang: str, changed: RiskResult | None = None) -> go.Figure:
    """S(t) of every model with its band; ``changed`` (a what-if) is drawn dashed without bands."""
    from kneeai.survival.risk import model_label

    curves: list[Curve] = []
    for i, m in enumerate(result.models):
        curves.append({"label": model_label(m.model_name, lang), "times": m.times, "survival": m.survival,
                       "low": m.survival_low, "high": m.survival_high, "colour": model_colour(i)})
    if changed is not None:
        for i, m in enumerate(changed.models):
            curves.append({"label": t("risk.chart.what_if_label", lang, model=model_label(m.model_name, lang)), "times": m.times,
                           "survival": m.survival, "low": None, "high": None, "colour": model_colour(i), "dash": "dash"})
    title = t("risk.chart.survival_title", lang)
    if result.simulated:
        title += " · " + t("risk.simulated_short", lang)
    return curve_figure(curves, title, t("risk.chart.years", lang), t("risk.chart.survival_axis", lang))


def contributions_figure(result: RiskResult, lang: str) -> go.Figure:
    """Per-input log-hazard contributions (relative to the reference patient), one bar group per model."""
    from kneeai.survival.risk import INPUT_FIELDS, model_label

    fig = go.Figure()
    fields = [f for f in INPUT_FIELDS if any(f in m.contributions for m in result.models)]
    labels = [t(f"clinical.field.{f}", lang) for f in fields]
    for i, m in enumerate(result.models):
        values = [m.contributions.get(f, 0.0) for f in fields]
        fig.add_trace(go.Bar(y=labels, x=values, orientation="h", name=model_label(m.model_name, lang), marker_color=model_colour(i),
                             text=[f"×{2.718281828 ** v:.2f}" for v in values], textposition="outside", cliponaxis=False,
                             hovertemplate="%{y}: %{x:+.2f}<extra>" + model_label(m.model_name, lang) + "</extra>"))
    title = t("risk.chart.contributions_title", lang)
    if result.simulated:
        title += " · " + t("risk.simulated_short", lang)
    fig.update_layout(title=title, barmode="group", height=120 + 55 * len(fields), margin=dict(l=10, r=40, t=50, b=40),
                      plot_bgcolor="white", xaxis=dict(title=t("risk.chart.contribution_axis", lang), zeroline=True,
                                                       zerolinecolor=GUIDE, gridcolor=GRID),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", yanchor="top", y=-0.25))
    return fig


def calibration_figure(validation: dict[str, Any], lang: str, models: Sequence[str] = ("cox", "deepsurv", "kl_only")) -> go.Figure:
    """Predicted 5-year risk by decile against Kaplan-Meier observed, with the ideal diagonal."""
    from kneeai.survival.risk import model_label

    cal = validation["calibration"]
    top = max(max(max(cal[m]["predicted"]), max(cal[m]["observed"])) for m in models) * 100
    fig = go.Figure(go.Scatter(x=[0, top * 1.05], y=[0, top * 1.05], mode="lines", line=dict(color=GUIDE, dash="dot"),
                               name=t("risk.validation.ideal", lang)))
    colours = {"cox": model_colour(0), "deepsurv": model_colour(1), "kl_only": MUTED, "true_risk": INK}
    for m in models:
        c = cal[m]
        fig.add_trace(go.Scatter(x=[100 * v for v in c["predicted"]], y=[100 * v for v in c["observed"]], mode="lines+markers",
                                 name=f"{model_label(m, lang)} ({t('risk.validation.slope', lang)} {c['slope']:.2f})",
                                 line=dict(color=colours.get(m, MUTED))))
    fig.update_layout(title=t("risk.validation.calibration_title", lang, years=f"{validation['horizon']:g}") + " · "
                      + t("risk.simulated_short", lang), height=420, plot_bgcolor="white", margin=dict(l=10, r=10, t=50, b=40),
                      xaxis=dict(title=t("risk.validation.predicted_axis", lang), gridcolor=GRID),
                      yaxis=dict(title=t("risk.validation.observed_axis", lang), gridcolor=GRID),
                      legend=dict(orientation="h", yanchor="top", y=-0.2))
    return fig
