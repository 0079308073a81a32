"""Explain: where the network looked, as a heatmap and in words."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.explain import METHODS
from kneeai.grading.charts import probability_figure
from kneeai.grading.wording import grade_sentence
from kneeai.i18n import t
from kneeai.palette import ACCENT
from ui.loaders import grader
from ui.state import Key, get, lang, put
from ui.widgets import page_header, show_error, tr

page_header("nav.explain")
grades = get(Key.GRADES) or {}
crops = get(Key.CROPS) or []
if not grades:
    st.info(tr("explain.need_grade"), icon=":material/orthopedics:")
    st.page_link("views/grade.py", label=tr("nav.grade"), icon=":material/arrow_forward:")
else:
    from kneeai.explain import describe, explain, overlay

    language = lang()
    indices = sorted(grades)
    idx = st.radio(tr("explain.knee"), indices, format_func=lambda i: tr("grade.knee_n", n=i + 1), horizontal=True, key="explain_knee") if len(indices) > 1 else indices[0]
    result, crop = grades[idx], crops[idx]
    c1, c2 = st.columns(2)
    method_labels = {m: tr(f"explain.method.{m}") for m in METHODS}
    method = c1.radio(tr("explain.method"), METHODS, format_func=method_labels.get, horizontal=True, key="explain_method")
    opacity = c2.slider(tr("explain.opacity"), 0.0, 1.0, 0.45, 0.05, key="explain_opacity")
    cache = get(Key.EXPLANATIONS) or {}
    key = (idx, method, result.kl_grade)
    if key not in cache:
        try:
            with st.spinner(tr("explain.running")):
                cache[key] = explain(crop, result, method=method, grader=grader())
            put(Key.EXPLANATIONS, cache)
        except KneeAIError as exc:
            show_error(exc)
    expl = cache.get(key)
    if expl is not None:
        st.subheader(grade_sentence(result, language))
        left, right = st.columns(2)
        left.image(crop.pixels.clip(0, 1), caption=tr("explain.original"), width="stretch")
        right.image(overlay(crop.pixels, expl.heatmap, opacity), caption=tr("explain.overlay_caption", method=tr(f"explain.method.{method}")), width="stretch")
        st.markdown("#### " + tr("explain.in_words"))
        st.write(describe(expl, language))
        names = [t("explain.region." + r.region, language) for r in expl.regions]
        fig = go.Figure(go.Bar(x=[100 * r.share for r in expl.regions], y=names, orientation="h", marker_color=ACCENT,
                               text=[f"{100 * r.share:.0f}%" for r in expl.regions], textposition="outside", cliponaxis=False,
                               hovertext=[tr("explain.region_hover", share=f"{100 * r.share:.0f}%", area=f"{100 * r.area:.0f}%",
                                             times=f"{r.concentration:.1f}") for r in expl.regions], hoverinfo="text"))
        fig.update_layout(title=tr("explain.region_shares"), height=300, margin=dict(l=10, r=30, t=40, b=30), yaxis=dict(autorange="reversed"), plot_bgcolor="white")
        st.plotly_chart(fig, width="stretch", key="regions")
        st.plotly_chart(probability_figure(result, language), width="stretch", key="explain_probs")
        st.caption(tr("explain.caveat"))
