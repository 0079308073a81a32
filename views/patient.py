"""Patient: find or create a patient, save the current analysis as a visit, see each knee over
time, override a stored grade, and compare two visits of the same knee."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.grading.wording import grade_name
from kneeai.i18n import t
from kneeai.imaging.jsw import DETECTABLE_CHANGE_MM, NOISE_RANGE_MM, JSW_SD_MM, compare_visit_crops
from kneeai.report.charts import TIMELINE_HORIZON, jsw_figure, timeline_figure
from kneeai.report.markdown import escape_markdown
from kneeai.store import registry
from ui.auth import audit_user
from ui.record import active, override_editor, save_current_visits
from ui.state import Key, get, lang, put
from ui.widgets import page_header, show_error, tr

KNEES = ("R", "L", None)


def _knee_label(lat: str | None, language: str | None = None) -> str:
    # Format functions run again outside the script (tests, reruns): pass the language in.
    return t({"R": "grade.lat_right", "L": "grade.lat_left"}.get(lat or "", "grade.lat_unknown"), language or lang())


def _select(p: registry.PatientRecord) -> None:
    put(Key.PATIENT_ID, p.id)
    put(Key.PATIENT_PSEUDONYM, p.pseudonym)


def _find_or_create() -> None:
    left, right = st.columns([3, 2])
    with left:
        st.subheader(tr("patient.find"))
        query = st.text_input(tr("patient.search"), key="patient_search", placeholder="KN-…")
        by_ids = st.checkbox(tr("patient.search_identifiers"), key="patient_search_ids", help=tr("patient.search_identifiers_help"))
        found = registry.search_patients(query, include_identifiers=by_ids) if query else registry.list_patients(limit=50)
        if not found:
            st.caption(tr("patient.none_found"))
        else:
            current = get(Key.PATIENT_ID)
            ids = [p.id for p in found]
            pick = st.selectbox(tr("patient.pick"), ids, index=ids.index(current) if current in ids else 0, key="patient_pick",
                                format_func=lambda i: next(p.pseudonym for p in found if p.id == i))
            if st.button(tr("patient.open"), key="patient_open") or (current is None and len(found) == 1 and query):
                _select(next(p for p in found if p.id == pick))
                st.rerun()
    with right:
        st.subheader(tr("patient.new"))
        st.caption(tr("patient.new_help"))
        mrn = st.text_input(tr("patient.mrn"), key="new_mrn")
        name = st.text_input(tr("patient.name"), key="new_name")
        if st.button(tr("patient.create"), key="patient_create", type="primary"):
            p = registry.create_patient({"MRN": mrn.strip(), "PatientName": name.strip()}, user=audit_user())
            _select(p)
            st.success(tr("patient.created", pseudonym=p.pseudonym))
            st.rerun()


def _save_current(patient_id: int) -> None:
    focus = active()
    st.subheader(tr("patient.save_heading"))
    if focus is None:
        st.caption(tr("patient.save_nothing"))
        return
    _, crop, grade = focus
    st.caption(tr("patient.save_help", n=len(get(Key.GRADES) or {})))
    c1, c2 = st.columns([1, 2])
    when = c1.date_input(tr("patient.visit_date"), value=date.today(), max_value=date.today(), key="visit_date")
    if c2.button(tr("patient.save"), key="visit_save", type="primary"):
        try:
            ids = save_current_visits(patient_id, when)
            st.success(tr("patient.saved", n=len(ids)))
        except KneeAIError as exc:
            show_error(exc)


def _visit_label(v: registry.VisitRecord, language: str) -> str:
    return f"{v.visit_date.isoformat()} · {_knee_label(v.laterality, language)} · #{v.id}"


def _risk_at(v: registry.VisitRecord, years: float = TIMELINE_HORIZON) -> str:
    if v.risk is None or not v.risk.models:
        return "—"
    return " / ".join(f"{100 * m.risk_at[years][0]:.0f}%" for m in v.risk.models if years in m.risk_at)


def _table(visits: list[registry.VisitRecord]) -> None:
    rows = [{
        tr("patient.col_date"): v.visit_date.isoformat(),
        tr("patient.col_knee"): _knee_label(v.laterality),
        tr("patient.col_model"): v.grade.kl_grade,
        tr("patient.col_override"): v.override.kl_grade if v.override else None,
        tr("patient.col_reason"): v.override.reason if v.override else "",
        tr("patient.col_risk", years=f"{TIMELINE_HORIZON:g}"): _risk_at(v),
    } for v in visits]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _timeline(visits: list[registry.VisitRecord]) -> None:
    st.subheader(tr("patient.timeline"))
    language = lang()
    for knee in KNEES:
        mine = [v for v in visits if v.laterality == knee]
        if mine:
            st.markdown(f"**{_knee_label(knee)}**")
            st.plotly_chart(timeline_figure(mine, language), width="stretch", key=f"timeline_{knee}")
    if any(v.risk is not None and v.risk.simulated for v in visits):
        st.caption(tr("patient.simulated_note"))


def _change_words(before: int, after: int) -> str:
    if after == before:
        return tr("patient.change_none")
    return tr("patient.change_worse" if after > before else "patient.change_better", delta=f"{after - before:+d}")


def _compare(visits: list[registry.VisitRecord]) -> None:
    st.subheader(tr("patient.compare"))
    knees = [k for k in KNEES if sum(v.laterality == k for v in visits) >= 2]
    if not knees:
        st.caption(tr("patient.compare_need_two"))
        return
    language = lang()
    knee = st.radio(tr("patient.compare_knee"), knees, format_func=lambda k: _knee_label(k, language), horizontal=True, key="compare_knee")
    mine = [v for v in visits if v.laterality == knee]
    ids = [v.id for v in mine]
    by_id = {v.id: v for v in mine}
    c1, c2 = st.columns(2)
    a_id = c1.selectbox(tr("patient.compare_before"), ids, index=0, format_func=lambda i: _visit_label(by_id[i], language), key="compare_a")
    b_id = c2.selectbox(tr("patient.compare_after"), ids, index=len(ids) - 1, format_func=lambda i: _visit_label(by_id[i], language), key="compare_b")
    a, b = by_id[a_id], by_id[b_id]
    if a.visit_date > b.visit_date:
        a, b = b, a
    for col, v in ((c1, a), (c2, b)):
        with col:
            crop = v.crop_pixels()
            if crop is not None:
                heat = v.heatmap()
                if heat is not None and heat.shape == crop.shape:
                    from kneeai.explain import overlay

                    col.image(overlay(crop, heat, 0.45), width="stretch", caption=v.visit_date.isoformat())
                else:
                    col.image(crop, width="stretch", caption=v.visit_date.isoformat())
            col.markdown(f"**KL {v.effective_grade}** · {grade_name(v.effective_grade, language)}")
            if v.inverted:
                col.caption(tr("report.inverted"))
            if v.override:
                col.caption(tr("patient.overridden", model_grade=v.grade.kl_grade, reason=escape_markdown(v.override.reason)))
            col.caption(tr("patient.col_risk", years=f"{TIMELINE_HORIZON:g}") + ": " + _risk_at(v))
    st.info(tr("patient.change", before=a.effective_grade, after=b.effective_grade, words=_change_words(a.effective_grade, b.effective_grade),
               days=(b.visit_date - a.visit_date).days), icon="↔️")
    _jsw(a, b)


def _jsw(a: registry.VisitRecord, b: registry.VisitRecord) -> None:
    if a.mm_per_pixel is None or b.mm_per_pixel is None or a.crop_png is None or b.crop_png is None:
        st.caption(tr("patient.jsw_unavailable"))
        return
    c = compare_visit_crops(a.crop_pixels(), a.mm_per_pixel, a.laterality, b.crop_pixels(), b.mm_per_pixel, b.laterality)
    st.plotly_chart(jsw_figure([(a.visit_date.isoformat(), c.before), (b.visit_date.isoformat(), c.after)], lang()),
                    width="stretch", key="jsw")
    if c.change_mm is None:
        st.caption(tr("patient.jsw_not_found"))
        return
    where = tr(f"patient.jsw_{c.compartment}")
    st.markdown(tr("patient.jsw_change", where=where, before=f"{c.before_mm:.1f}", after=f"{c.after_mm:.1f}",
                   change=f"{c.change_mm:+.1f}"))
    st.caption(tr("patient.jsw_beyond_noise" if c.beyond_noise else "patient.jsw_within_noise", threshold=f"{DETECTABLE_CHANGE_MM:.1f}",
                  sd_low=JSW_SD_MM[0], sd_high=JSW_SD_MM[1], low=NOISE_RANGE_MM[0], high=NOISE_RANGE_MM[1]))


def _override_stored(visits: list[registry.VisitRecord]) -> None:
    st.subheader(tr("patient.override_heading"))
    language = lang()
    by_id = {v.id: v for v in visits}
    vid = st.selectbox(tr("patient.override_pick"), list(by_id), index=len(by_id) - 1, format_func=lambda i: _visit_label(by_id[i], language),
                       key="override_visit")
    v = by_id[vid]
    override_editor(v.grade.kl_grade, key=f"stored_override_{vid}", visit_id=vid,
                    current=(v.override.kl_grade, v.override.reason) if v.override else None)


page_header("nav.patient")
_find_or_create()
patient_id = get(Key.PATIENT_ID)
if patient_id is not None:
    st.divider()
    try:
        patient = registry.get_patient(int(patient_id))
        visits = registry.visits_for(patient.id)
    except KneeAIError as exc:
        show_error(exc)
        put(Key.PATIENT_ID, None)
        put(Key.PATIENT_PSEUDONYM, None)
        st.stop()
    st.header(tr("patient.current", pseudonym=patient.pseudonym))
    _save_current(patient.id)
    visits = registry.visits_for(patient.id)
    if not visits:
        st.info(tr("patient.no_visits"), icon=":material/folder_open:")
    else:
        _table(visits)
        _timeline(visits)
        _compare(visits)
        _override_stored(visits)
