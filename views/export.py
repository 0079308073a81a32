"""Export: the current analysis or a saved visit as PDF, JSON or FHIR; the registry as CSV.

Identifiers (DICOM PatientName/PatientID, the MRN) stay out of every file unless the user ticks
the opt-in box. Every download is noted in the audit trail.
"""
from __future__ import annotations

from datetime import date

import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.i18n import LANGUAGE_NAMES, LANGUAGES, t
from kneeai.io import has_burned_in_annotation
from kneeai.report import csv_export, fhir, json_export
from kneeai.report.pdf import render_pdf
from kneeai.report.summary import summary_from_visit
from kneeai.store import registry, trail
from ui.auth import audit_user
from ui.record import active, current_summary, override_editor
from ui.state import Key, get, lang
from ui.widgets import page_header, show_error, tr


def _audit(fmt: str, data: bytes, subject: str, with_ids: bool) -> None:
    trail.record_export(fmt, data, subject=subject, identifiers_included=with_ids, user=audit_user())


def _downloads(summary, subject: str, with_ids: bool, burned_in: bool = False, confirmed: bool = False) -> None:
    stem = f"kneeai_{summary.pseudonym}_{summary.visit_date}"
    try:
        files = [
            ("pdf", "export.pdf", render_pdf(summary, burned_in_annotation=burned_in, confirm_burned_in=confirmed),
             "application/pdf", f"{stem}.pdf"),
            ("json", "export.json", json_export.to_json(summary).encode("utf-8"), "application/json", f"{stem}.json"),
            ("fhir", "export.fhir", fhir.to_json(summary).encode("utf-8"), "application/fhir+json", f"{stem}.fhir.json"),
        ]
    except KneeAIError as exc:
        show_error(exc)
        return
    cols = st.columns(len(files))
    for col, (fmt, label, data, mime, name) in zip(cols, files):
        col.download_button(tr(label), data=data, file_name=name, mime=mime, key=f"dl_{fmt}", width="stretch",
                            on_click=_audit, args=(fmt, data, subject, with_ids))


page_header("nav.export")
ui_lang = lang()
language = st.selectbox(tr("export.language"), LANGUAGES, index=LANGUAGES.index(lang()), format_func=LANGUAGE_NAMES.get, key="export_lang")
with_ids = st.checkbox(tr("export.include_identifiers"), value=False, key="export_ids", help=tr("export.include_identifiers_help"))
if with_ids:
    st.warning(tr("export.identifiers_warning"), icon=":material/lock_open:")

burned_in = confirmed = False
patient_id = get(Key.PATIENT_ID)
visits = registry.visits_for(int(patient_id)) if patient_id is not None else []
sources = (["current"] if active() is not None else []) + (["saved"] if visits else [])
if not sources:
    st.info(tr("export.nothing"), icon=":material/description:")
    st.page_link("views/grade.py", label=tr("nav.grade"), icon=":material/arrow_forward:")
else:
    source = st.radio(tr("export.source"), sources, format_func=lambda s: t(f"export.source_{s}", ui_lang), horizontal=True, key="export_source")
    if source == "current":
        focus = active()
        assert focus is not None
        override_editor(focus[2].kl_grade, key="export_override")
        summary = current_summary(with_ids, language, date.today())
        subject = f"visit:{get(Key.VISIT_ID)}" if get(Key.VISIT_ID) else "session"
        # A film with identifying text burned into its pixels: the PDF (it shows the knee) waits for a tick.
        burned_in = has_burned_in_annotation(get(Key.RADIOGRAPH))
        if burned_in:
            st.warning(tr("intake.warn.burned_in_annotation"), icon=":material/warning:")
            confirmed = st.checkbox(tr("export.confirm_burned_in"), value=False, key="export_burned_in_ok")
    else:
        by_id = {v.id: v for v in visits}
        vid = st.selectbox(tr("export.visit"), list(by_id), index=len(by_id) - 1, key="export_visit",
                           format_func=lambda i: f"{by_id[i].visit_date} · #{i}")
        summary = summary_from_visit(by_id[vid], include_identifiers=with_ids, lang=language)
        subject = f"visit:{vid}"
    if summary is not None:
        st.caption(tr("export.for", pseudonym=summary.pseudonym, date=summary.visit_date))
        _downloads(summary, subject, with_ids, burned_in, confirmed)

st.divider()
st.subheader(tr("export.csv_heading"))
all_visits = registry.all_visits()
if not all_visits:
    st.caption(tr("export.csv_empty"))
else:
    scope = st.radio(tr("export.csv_scope"), ["patient", "cohort"] if visits else ["cohort"], horizontal=True, key="export_csv_scope",
                     format_func=lambda s: t(f"export.csv_scope_{s}", ui_lang, n=len(visits) if s == "patient" else len(all_visits)))
    chosen = visits if scope == "patient" else all_visits
    table = csv_export.to_csv([summary_from_visit(v, include_identifiers=with_ids, lang=language) for v in chosen]).encode("utf-8")
    st.download_button(tr("export.csv"), data=table, file_name=f"kneeai_{scope}_{date.today()}.csv", mime="text/csv", key="dl_csv",
                       on_click=_audit, args=("csv", table, scope, with_ids))
