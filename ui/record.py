"""The current analysis as a record: what the Patient, Consultation and Export pages share.

Reads the session (never st.cache_data: patient data must not be shared across users), turns
it into a :class:`~kneeai.schemas.PatientSummary`, saves it as visits, and offers the clinician
override editor. The override lives in ``Key.OVERRIDE`` as (grade, reason) and, for a saved
visit, in the registry.
"""
from __future__ import annotations

from datetime import date

import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.grading.wording import grade_name
from kneeai.i18n import t
from kneeai.report.markdown import escape_markdown
from kneeai.schemas import KL_GRADES, Explanation, GradeResult, KneeCrop, PatientSummary, RiskResult
from ui.state import Key, get, lang, put
from ui.widgets import show_error, tr

__all__ = ["active", "active_explanation", "effective_risk", "current_summary", "save_current_visits", "override_editor",
           "session_pseudonym"]


def active() -> tuple[int, KneeCrop, GradeResult] | None:
    """(index, crop, grade) of the knee in focus, or None before anything is graded."""
    grades: dict[int, GradeResult] = get(Key.GRADES) or {}
    crops: list[KneeCrop] = get(Key.CROPS) or []
    if not grades:
        return None
    idx = get(Key.ACTIVE_CROP)
    if idx not in grades:
        idx = min(grades)
    if idx >= len(crops):
        return None
    return idx, crops[idx], grades[idx]


def active_explanation(idx: int, grade: GradeResult, compute: bool = False) -> Explanation | None:
    """A heatmap already computed for this knee and grade (Explain page), or a Grad-CAM now if asked."""
    cache: dict[tuple, Explanation] = get(Key.EXPLANATIONS) or {}
    for key, expl in cache.items():
        if isinstance(key, tuple) and key and key[0] == idx and expl.target_grade == grade.kl_grade:
            return expl
    if not compute:
        return None
    from kneeai.explain import explain
    from ui.loaders import grader

    crops = get(Key.CROPS) or []
    try:
        expl = explain(crops[idx], grade, method="gradcam", grader=grader())
    except KneeAIError as exc:
        show_error(exc)
        return None
    cache[(idx, "gradcam", grade.kl_grade)] = expl
    put(Key.EXPLANATIONS, cache)
    return expl


def effective_risk() -> RiskResult | None:
    """The session's TKR risk with the clinician's grade as input when there is an override."""
    from kneeai.report.summary import risk_with_override

    try:
        return risk_with_override(get(Key.RISK), get(Key.OVERRIDE))
    except KneeAIError as exc:
        show_error(exc)
        return get(Key.RISK)


def session_pseudonym() -> str:
    """The current patient's pseudonym, or a random one kept for this session's unsaved work."""
    from kneeai.store.registry import new_pseudonym

    if get(Key.PATIENT_PSEUDONYM):
        return str(get(Key.PATIENT_PSEUDONYM))
    if not get("_adhoc_pseudonym"):
        put("_adhoc_pseudonym", new_pseudonym())
    return str(get("_adhoc_pseudonym"))


def current_summary(include_identifiers: bool, language: str, visit_date: date | None = None) -> PatientSummary | None:
    from kneeai.pipeline import knee_summary
    from kneeai.store.registry import patient_identifiers

    focus = active()
    if focus is None:
        return None
    idx, crop, grade = focus
    identifiers: dict[str, str] = {}
    if include_identifiers:
        rad = get(Key.RADIOGRAPH)
        identifiers.update(getattr(rad, "identifiers", None) or {})
        if get(Key.PATIENT_ID) is not None:
            identifiers.update(patient_identifiers(int(get(Key.PATIENT_ID))))
    return knee_summary(crop, grade, pseudonym=session_pseudonym(), visit_date=visit_date or date.today(),
                        explanation=active_explanation(idx, grade), risk=effective_risk(), override=get(Key.OVERRIDE),
                        identifiers=identifiers, include_identifiers=include_identifiers, lang=language)


def save_current_visits(patient_id: int, visit_date: date) -> list[int]:
    """Save every graded knee of the current image as a visit (risk and override go with the
    knee in focus); returns the visit ids, the focused knee's first."""
    from kneeai.pipeline import save_visits
    from ui.auth import audit_user

    focus = active()
    if focus is None:
        return []
    grades: dict[int, GradeResult] = get(Key.GRADES) or {}
    crops: list[KneeCrop] = get(Key.CROPS) or []
    graded = sorted(grades)
    knees = [(crops[i], grades[i], active_explanation(i, grades[i])) for i in graded]
    ids = save_visits(patient_id, visit_date, knees, focus=graded.index(focus[0]), risk=effective_risk(),
                      override=get(Key.OVERRIDE), clinical=get(Key.CLINICAL),
                      input_sha256=getattr(get(Key.RADIOGRAPH), "sha256", "") or "", user=audit_user())
    put(Key.VISIT_ID, ids[0] if ids else None)
    return ids


def override_editor(model_grade: int, key: str, visit_id: int | None = None, current: tuple[int, str] | None = None) -> None:
    """Set a different KL grade with a reason. For the session's analysis (``visit_id`` None) it
    goes to ``Key.OVERRIDE`` (and to the saved visit, if there is one); for a stored visit, to the
    registry. The model's grade is never replaced, only joined by the clinician's."""
    from kneeai.store.registry import set_override
    from ui.auth import audit_user

    if visit_id is None:
        current = get(Key.OVERRIDE)
    language = lang()
    with st.expander(tr("override.title"), expanded=current is not None):
        st.caption(tr("override.help", grade=model_grade))
        default = current[0] if current else model_grade
        grade = st.selectbox(tr("override.grade"), KL_GRADES, index=KL_GRADES.index(default), key=f"{key}_grade",
                             format_func=lambda k: t("grade.kl_label", language, grade=k) + " · " + grade_name(k, language))
        reason = st.text_area(tr("override.reason"), value=current[1] if current else "", key=f"{key}_reason", max_chars=500)
        c1, c2 = st.columns(2)
        if c1.button(tr("override.apply"), key=f"{key}_apply", type="primary"):
            if grade == model_grade and current is None:
                st.warning(tr("override.same_grade"))
            elif not reason.strip():
                st.error(tr("override.need_reason"), icon=":material/warning:")
            else:
                try:
                    target = visit_id if visit_id is not None else get(Key.VISIT_ID)
                    if target is not None:
                        set_override(int(target), int(grade), reason.strip(), user=audit_user())
                    if visit_id is None:
                        put(Key.OVERRIDE, (int(grade), reason.strip()))
                    st.success(tr("override.saved", grade=grade))
                except KneeAIError as exc:
                    show_error(exc)
        if visit_id is None and current is not None and c2.button(tr("override.clear"), key=f"{key}_clear"):
            put(Key.OVERRIDE, None)
            st.rerun()
    if current is not None:
        st.warning(tr("override.active", grade=current[0], name=grade_name(current[0], language), model_grade=model_grade,
                      reason=escape_markdown(current[1])), icon=":material/edit_note:")
