"""TKR risk: both demo models' curves with intervals, risk at 1/2/5/9 years, contributions and what-if."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.report.markdown import escape_markdown
from kneeai.report.summary import KL_SOURCES, kl_in_force
from kneeai.schemas import KL_GRADES
from kneeai.survival.charts import contributions_figure, survival_figure
from kneeai.survival.risk import (
    assess,
    check_fields,
    format_risk,
    missing_grade,
    model_label,
    normalise_sex,
    reference_text,
    risk_input_from_fields,
    what_if,
    what_if_sentences,
)
from ui.loaders import survival_models
from ui.state import Key, get, lang, put
from ui.widgets import page_header, show_error, tr

page_header("nav.risk")
language = lang()
st.warning(tr("risk.simulated_banner"), icon=":material/science:")


def _number(v: Any) -> float | None:
    # Other pages may keep what was typed as text; a value that is not a number starts empty here.
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


clinical: dict[str, Any] = dict(get(Key.CLINICAL) or {})
grades = get(Key.GRADES) or {}
grade = grades.get(get(Key.ACTIVE_CROP, 0)) if grades else None
override = get(Key.OVERRIDE)

st.subheader(tr("risk.inputs"))
c1, c2, c3, c4 = st.columns(4)
age = c1.number_input(f"{tr('clinical.field.age')} ({tr('clinical.unit.age')})", value=_number(clinical.get("age")), step=1.0,
                      format="%.0f", key="risk_age")
bmi = c2.number_input(f"{tr('clinical.field.bmi')} ({tr('clinical.unit.bmi')})", value=_number(clinical.get("bmi")), step=0.5,
                      format="%.1f", key="risk_bmi")
pain = c3.number_input(f"{tr('clinical.field.womac_pain')} {tr('clinical.unit.womac_pain')}", value=_number(clinical.get("womac_pain")),
                       step=1.0, format="%.0f", key="risk_pain")
sex_now = normalise_sex(clinical.get("sex"))
sex = c4.radio(tr("clinical.field.sex"), ["F", "M"], index=("F", "M").index(sex_now) if sex_now in ("F", "M") else None,
               format_func=lambda s: t("risk.sex.female" if s == "F" else "risk.sex.male", language), horizontal=True, key="risk_sex")

kl_typed = clinical.get("kl_grade")
if override:
    source = "override"
    st.info(tr("risk.override_in_force", grade=override[0], reason=escape_markdown(override[1]) or "—"), icon=":material/edit_note:")
else:
    options = list(KL_SOURCES) if grade is not None else ["typed"]
    wanted = clinical.get("kl_source", "image")
    source = st.radio(tr("risk.kl_source"), options, index=options.index(wanted) if wanted in options else 0,
                      format_func=lambda s: t(f"risk.kl_source.{s}", language), horizontal=True, key="risk_kl_source")
    if grade is None:
        st.caption(tr("risk.no_image_grade"))
    if source == "typed":
        current = int(kl_typed) if str(kl_typed) in {str(k) for k in KL_GRADES} else None
        kl_typed = st.selectbox(tr("clinical.field.kl_grade"), list(KL_GRADES), index=current,
                                format_func=lambda k: f"{t('grade.kl_label', language, grade=k)}: {t(f'kl.{k}.name', language)}", key="risk_kl_typed")

# Everything typed goes back to the session as typed, valid or not, so no page switch loses it.
clinical.update({"age": age, "bmi": bmi, "womac_pain": pain, "sex": sex, "kl_source": source if source != "override" else clinical.get("kl_source")})
if source == "typed":
    clinical["kl_grade"] = kl_typed
put(Key.CLINICAL, clinical)

kl, probabilities = kl_in_force(grade, override, kl_typed, source)
values = {"age": age, "sex": sex, "bmi": bmi, "womac_pain": pain, "kl_grade": kl}
clean, problems = check_fields(values)
problems += missing_grade(clean, problems, probabilities)
if all(values[k] is None for k in ("age", "sex", "bmi", "womac_pain")):
    # Nothing typed yet: a calm prompt, not four red errors.
    st.info(tr("risk.enter_inputs"), icon=":material/edit:")
    st.session_state.pop(Key.RISK, None)
    st.stop()
if problems:
    for p in problems:
        show_error(p)
    st.info(tr("risk.fix_inputs"))
    st.session_state.pop(Key.RISK, None)
    st.stop()

try:
    models = survival_models()
    inp = risk_input_from_fields(values, kl_probabilities=probabilities)
    result = assess(inp, models)
except KneeAIError as exc:
    show_error(exc)
    st.session_state.pop(Key.RISK, None)
    st.stop()
put(Key.RISK, result)

if inp.kl_probabilities is not None:
    st.caption(tr("risk.kl_mix", probs=", ".join(f"KL{k} {100 * p:.0f}%" for k, p in enumerate(inp.kl_probabilities))))

st.subheader(tr("risk.table_title"))
horizons = list(result.models[0].risk_at)
table = pd.DataFrame([{tr("risk.col.model"): model_label(m.model_name, language),
                       **{tr("risk.years_short", years=f"{h:g}"): f"{format_risk(p)} ({format_risk(lo)}–{format_risk(hi)})"
                          for h, (p, lo, hi) in m.risk_at.items()}} for m in result.models])
st.dataframe(table, hide_index=True, width="stretch")
members = {m.name: len(m.members) for m in models}
st.caption(tr("risk.interval_note", members=sum(members.values()), cox=members.get("cox", 0), ds=members.get("deepsurv", 0)))

chart_col, whatif_col = st.columns([3, 1])
with whatif_col:
    st.markdown("#### " + tr("risk.whatif_title"))
    # Keyed by the patient's own value, so a new input resets the slider to it.
    new_bmi = st.slider(tr("risk.whatif.bmi_slider"), min_value=float(min(15.0, inp.bmi)), max_value=float(max(50.0, inp.bmi)),
                        value=float(inp.bmi), step=0.5, key=f"risk_whatif_bmi_{inp.bmi:g}")
    new_pain = st.slider(tr("risk.whatif.pain_slider"), min_value=0.0, max_value=20.0, value=float(inp.womac_pain), step=1.0,
                         key=f"risk_whatif_pain_{inp.womac_pain:g}")
changed = None
if new_bmi != inp.bmi or new_pain != inp.womac_pain:
    changed = assess(what_if(inp, bmi=new_bmi, womac_pain=new_pain), models)
with whatif_col:
    if changed is None:
        st.caption(tr("risk.whatif.no_change"))
    else:
        for sentence in what_if_sentences(result, changed, language):
            st.markdown("- " + sentence)
    st.caption(tr("risk.whatif.caveat"))
chart_col.plotly_chart(survival_figure(result, language, changed), width="stretch", key="risk_curves")

st.subheader(tr("risk.contrib_title"))
st.plotly_chart(contributions_figure(result, language), width="stretch", key="risk_contributions")
st.caption(reference_text(models[0], language))
st.caption(tr("risk.custom_hint"))
