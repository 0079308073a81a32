"""The PDF draws the app's own plotly figures, so the page and the printout cannot disagree."""
from __future__ import annotations

import plotly.graph_objects as go
import pytest

from kneeai.grading.charts import GRADE_COLOURS, probability_figure
from kneeai.report import pdf as pdf_mod
from kneeai.report.figure_image import figure_svg, parse_colour
from tests.unit.test_report_exports import _summary


def test_plotly_colours_parse_as_rgba():
    assert parse_colour("#ff0000") == (1.0, 0.0, 0.0, 1.0)
    assert parse_colour("#00ff0080")[3] == pytest.approx(128 / 255)
    assert parse_colour("rgba(0, 0, 255, 0.15)") == (0.0, 0.0, 1.0, 0.15)
    assert parse_colour("rgb(255,255,255)") == (1.0, 1.0, 1.0, 1.0)
    assert parse_colour("not a colour") == parse_colour("#444444")


def test_the_svg_has_the_figures_bars_in_their_colours():
    summary = _summary("en")
    svg = figure_svg(probability_figure(summary.grade, "en"), 90, 40).decode()
    assert svg.startswith("<?xml") and "<svg" in svg
    # The chosen grade's bar in its full colour (matplotlib writes fills as lower-case hex).
    assert GRADE_COLOURS[summary.grade.kl_grade].lower() in svg
    # Text is outlines, not <text>: nothing to substitute in a reader without the font.
    assert "<text" not in svg


def test_a_line_chart_keeps_its_dash_and_band():
    fig = go.Figure([go.Scatter(x=[0, 1, 1, 0], y=[0, 1, 2, 1], fill="toself", fillcolor="rgba(10,20,30,0.2)"),
                     go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "#123456", "dash": "dash"}, name="a")])
    svg = figure_svg(fig, 80, 50).decode()
    assert "#123456" in svg and "stroke-dasharray" in svg and "#0a141e" in svg


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pdf_draws_the_grade_and_risk_pages_figures(lang, monkeypatch):
    import kneeai.grading.charts as grading_charts
    import kneeai.survival.charts as survival_charts

    drawn = []
    for module, name in ((grading_charts, "probability_figure"), (survival_charts, "survival_figure")):
        real = getattr(module, name)

        def spy(result, language, *a, _real=real, _name=name, **k):
            drawn.append((_name, result, language))
            return _real(result, language, *a, **k)

        monkeypatch.setattr(module, name, spy)
    summary = _summary(lang)
    assert pdf_mod.render_pdf(summary).startswith(b"%PDF")
    assert ("probability_figure", summary.grade, lang) in drawn
    assert ("survival_figure", summary.risk, lang) in drawn
