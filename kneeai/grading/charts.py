"""Plotly figures for a grade (pure functions: a result in, a figure out)."""
from __future__ import annotations

import plotly.graph_objects as go

from kneeai.i18n import t
from kneeai.schemas import GradeResult

__all__ = ["probability_figure", "GRADE_COLOURS"]

# One colour per KL grade, calm to warm; shared by the app, the PDF and the consultation view.
GRADE_COLOURS: tuple[str, ...] = ("#4c9a6a", "#9bbf59", "#e0b040", "#e07b39", "#c0392b")


def probability_figure(result: GradeResult, lang: str, height: int = 240) -> go.Figure:
    labels = [t("grade.kl_label", lang, grade=k) for k in range(5)]
    values = [100 * p for p in result.probabilities]
    colours = [GRADE_COLOURS[k] if k == result.kl_grade else GRADE_COLOURS[k] + "88" for k in range(5)]
    fig = go.Figure(
        go.Bar(x=values, y=labels, orientation="h", marker_color=colours,
               text=[f"{v:.0f}%" for v in values], textposition="outside", cliponaxis=False)
    )
    fig.update_layout(
        title=t("grade.probabilities", lang), height=height, margin=dict(l=10, r=30, t=40, b=30),
        xaxis=dict(range=[0, 105], title=t("grade.probability_axis", lang) + " (%)"),
        yaxis=dict(autorange="reversed"), plot_bgcolor="white", showlegend=False,
    )
    return fig
