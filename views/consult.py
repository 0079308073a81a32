"""Consultation: a large, calm view to show the patient: the knee with its heatmap, the grade in
plain words, and the TKR risk as 100 people. No technical detail."""
from __future__ import annotations

import streamlit as st

from kneeai.explain import overlay
from kneeai.explain.regions import focus_region
from kneeai.grading.wording import grade_name
from kneeai.i18n import t
from kneeai.report.icon_array import icon_array_svg, people_out_of_100
from kneeai.schemas import RISK_HORIZONS_YEARS, grade_in_force
from ui.record import active, active_explanation, effective_risk
from ui.state import Key, get, lang
from ui.widgets import intended_use, tr

st.title(tr("nav.consult"))
focus = active()
if focus is None:
    st.info(tr("consult.need_grade"), icon=":material/orthopedics:")
    st.page_link("views/grade.py", label=tr("nav.grade"), icon=":material/arrow_forward:")
else:
    idx, crop, grade = focus
    override = get(Key.OVERRIDE)
    shown = grade_in_force(grade.kl_grade, override[0] if override else None)
    language = lang()
    left, right = st.columns([1, 1], gap="large")
    with left:
        expl = active_explanation(idx, grade, compute=True)
        if expl is not None and expl.heatmap.shape == crop.pixels.shape:
            st.image(overlay(crop.pixels, expl.heatmap, 0.4), width="stretch", caption=tr("consult.image_caption"))
            focus_on = focus_region(expl.regions)
            if focus_on is not None:
                st.markdown(tr("consult.looked_at", where=tr(f"consult.where.{focus_on.region}")))
        else:
            st.image(crop.pixels.clip(0, 1), width="stretch")
    with right:
        st.markdown(f"## {tr('consult.your_knee')}")
        st.markdown(f"# KL {shown} · {grade_name(shown, language)}")
        st.markdown(f"#### {tr(f'consult.meaning.{shown}')}")
        st.markdown(tr(f"kl.{shown}.plain"))
        if override:
            st.caption(tr("consult.by_clinician"))
    risk = effective_risk()
    st.divider()
    if risk is None or not risk.models:
        st.caption(tr("consult.no_risk"))
    else:
        horizons = [h for h in RISK_HORIZONS_YEARS if h in risk.models[0].risk_at]
        years = st.segmented_control(tr("consult.horizon"), horizons, default=5.0 if 5.0 in horizons else horizons[-1], key="consult_horizon",
                                     format_func=lambda h: t("report.horizon", language, years=f"{h:g}")) or horizons[-1]
        p = risk.models[0].risk_at[years][0]
        n = people_out_of_100(p)
        a, b = st.columns([1, 1], gap="large")
        with a:
            st.markdown(icon_array_svg(p, title=tr("consult.people", n=n, years=f"{years:g}")), unsafe_allow_html=True)
        with b:
            st.markdown(f"# {100 * p:.0f}%")
            st.markdown("#### " + tr("consult.people", n=n, years=f"{years:g}"))
            st.markdown(tr("consult.people_rest", rest=100 - n))
            if risk.simulated:
                st.warning(tr("consult.simulated"), icon=":material/science:")
    intended_use()
