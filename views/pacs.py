"""PACS: find a study over DICOMweb, pull a knee film, grade it, and store the results back.

Patient identity from the PACS is shown only when asked and lives in this session alone; nothing
of it is written to the registry. The user links a study to a registry patient by opening the film
on the Grade page and saving its knees as that patient's visits, as for an upload.
"""
from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.pacs.client import PacsClient, PacsSettings
from kneeai.pacs.errors import NoKneeFilm, PacsNotConfigured
from kneeai.pacs.grade import GradedFilm, grade_film, store_results
from kneeai.pacs.query import FilmRef, StudyQuery, StudySummary, find_studies, knee_films
from ui.auth import audit_user
from ui.loaders import grader
from ui.state import Key, clear_image, get, lang, put
from ui.widgets import page_header, show_error, tr

MODALITIES = ("", "DX", "CR", "RG")
SIDE_KEYS = {"R": "grade.lat_right", "L": "grade.lat_left"}


def _side(lat: str | None) -> str:
    return tr(SIDE_KEYS.get(lat or "", "grade.lat_unknown"))


def _client() -> PacsClient:
    url = (get("pacs_url") or "").strip()
    if not url:
        raise PacsNotConfigured()
    user = (get("pacs_user") or "").strip() or None
    # The password is typed here or set on the server (KNEEAI_PACS_PASSWORD); it is never sent to the browser.
    password = get("pacs_password") or os.environ.get("KNEEAI_PACS_PASSWORD") or None
    timeout = PacsSettings.from_env(url).timeout_s  # KNEEAI_PACS_TIMEOUT, as for the CLI
    return PacsClient(PacsSettings(url.rstrip("/"), user, password, timeout))


def _connection() -> None:
    configured = bool(os.environ.get("KNEEAI_PACS_URL"))
    with st.expander(tr("pacs.url"), expanded=not configured):
        st.text_input(tr("pacs.url"), value=os.environ.get("KNEEAI_PACS_URL", ""), key="pacs_url",
                      placeholder="https://pacs.example.org/dicom-web")
        c1, c2 = st.columns(2)
        c1.text_input(tr("pacs.user"), value=os.environ.get("KNEEAI_PACS_USER", ""), key="pacs_user")
        c2.text_input(tr("pacs.password"), type="password", key="pacs_password")


def _search() -> None:
    with st.form("pacs_search"):
        c1, c2, c3, c4 = st.columns(4)
        date = c1.text_input(tr("pacs.date"), key="pacs_q_date")
        modality = c2.selectbox(tr("pacs.modality"), MODALITIES, key="pacs_q_modality")
        body_part = c3.text_input(tr("pacs.body_part"), key="pacs_q_body_part")
        accession = c4.text_input(tr("pacs.accession"), key="pacs_q_accession")
        submitted = st.form_submit_button(tr("pacs.search"), type="primary")
    if submitted:
        try:
            query = StudyQuery(date=date.strip(), modality=modality, body_part=body_part.strip(),
                               accession=accession.strip())
            studies = find_studies(_client(), query)
        except KneeAIError as exc:
            show_error(exc)
            return
        put("pacs_studies", studies)
        put("pacs_films", {})


def _study_table(studies: list[StudySummary]) -> None:
    show_identity = st.checkbox(tr("pacs.show_identity"), value=False, key="pacs_show_identity")
    rows = []
    for s in studies:
        row = {tr("pacs.col.date"): s.date, tr("pacs.col.accession"): s.accession,
               tr("pacs.col.description"): s.description, tr("pacs.col.modalities"): ", ".join(s.modalities),
               tr("pacs.col.instances"): s.n_instances}
        if show_identity:
            who = (s.identifiers.get("PatientName"), s.identifiers.get("PatientID"))
            row[tr("pacs.col.patient")] = " · ".join(v for v in who if v)
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _films_of(study: StudySummary) -> list[FilmRef] | None:
    cache: dict[str, list[FilmRef]] = get("pacs_films") or {}
    if study.study_uid not in cache:
        try:
            cache[study.study_uid] = knee_films(_client(), study.study_uid)
        except KneeAIError as exc:
            show_error(exc)
            return None
        put("pacs_films", cache)
    return cache[study.study_uid]


def _thumbnail(ref: FilmRef) -> None:
    try:
        st.image(_client().retrieve_rendered(ref.study_uid, ref.series_uid, ref.sop_uid), width=260,
                 caption=" · ".join((ref.series_description or "—", ref.modality, ref.body_part or "—")))
    except KneeAIError as exc:
        show_error(exc)


def _show_graded(ref: FilmRef, graded: GradedFilm, study: StudySummary) -> None:
    from kneeai.imaging.draw import film_with_boxes

    if graded.error is not None:
        show_error(graded.error)
        return
    for k in graded.knees:
        if k.result is None:
            st.error(f"{tr('grade.knee_n', n=k.knee.index)}: {k.error.message(lang())}", icon=":material/warning:")
        else:
            line = tr("pacs.knee_result", n=k.knee.index, side=_side(k.knee.laterality), grade=k.result.kl_grade,
                      expected=f"{k.result.expected_grade:.2f}")
            st.markdown(f"**{line}**")
    st.image(film_with_boxes(graded.film.radiograph.pixels, [k.knee.box for k in graded.knees],
                             [f"#{k.knee.index}" for k in graded.knees]), width=520)
    stored = (get("pacs_stored") or {}).get(ref.sop_uid)
    if graded.graded and stored is None:
        confirm = st.checkbox(tr("pacs.store_confirm"), value=False, key=f"pacs_confirm_{ref.sop_uid}")
        if st.button(tr("pacs.store"), key=f"pacs_store_{ref.sop_uid}", disabled=not confirm):
            try:
                with st.spinner(tr("grade.running")):
                    result = store_results(_client(), graded, grader=grader(), user=audit_user())
            except KneeAIError as exc:
                show_error(exc)
            else:
                put("pacs_stored", {**(get("pacs_stored") or {}), ref.sop_uid: result})
                st.rerun()
    if stored is not None:
        st.success(tr("pacs.stored", sr=stored.sr, overlay=stored.overlay), icon=":material/cloud_done:")
    if st.button(tr("pacs.open_in_grade"), key=f"pacs_open_{ref.sop_uid}"):
        clear_image()
        put(Key.UPLOAD_NAME, (f"PACS {study.accession or study.study_uid}", graded.film.radiograph.sha256))
        put(Key.UPLOAD_BYTES, graded.film.data)
        st.switch_page("views/grade.py")


def _study(study: StudySummary) -> None:
    films = _films_of(study)
    if not films:
        return
    st.subheader(tr("pacs.films", n=len(films)))
    graded_films: dict[str, GradedFilm] = get("pacs_graded") or {}
    for ref in films:
        left, right = st.columns([1, 2])
        with left:
            _thumbnail(ref)
            if st.button(tr("pacs.grade_film"), key=f"pacs_grade_{ref.sop_uid}", type="primary"):
                with st.spinner(tr("grade.running")):
                    graded_films[ref.sop_uid] = grade_film(_client(), ref, grader=grader(), user=audit_user())
                put("pacs_graded", graded_films)
        with right:
            if ref.sop_uid in graded_films:
                _show_graded(ref, graded_films[ref.sop_uid], study)


def _batch(studies: list[StudySummary]) -> None:
    st.subheader(tr("pacs.batch"))
    if st.button(tr("pacs.batch_run"), key="pacs_batch_run"):
        rows, failed, n_knees = [], 0, 0
        bar = st.progress(0.0, text=tr("pacs.batch_progress", done=0, total=len(studies)))
        try:
            client = _client()
            for i, s in enumerate(studies, start=1):
                try:
                    refs = knee_films(client, s.study_uid)
                except NoKneeFilm as exc:
                    rows.append({tr("pacs.col.date"): s.date, tr("pacs.col.accession"): s.accession,
                                 tr("pacs.col.error"): exc.message(lang())})
                    failed += 1
                    refs = []
                for ref in refs:
                    g = grade_film(client, ref, grader=grader(), user=audit_user())
                    base = {tr("pacs.col.date"): s.date, tr("pacs.col.accession"): s.accession,
                            tr("pacs.col.film"): ref.series_description or ref.sop_uid[-12:]}
                    if g.error is not None:
                        rows.append({**base, tr("pacs.col.error"): g.error.message(lang())})
                        failed += 1
                    for k in g.knees:
                        row = {**base, tr("pacs.col.knee"): k.knee.index, tr("pacs.col.side"): _side(k.knee.laterality)}
                        if k.result is not None:
                            n_knees += 1
                            row |= {tr("pacs.col.kl"): k.result.kl_grade,
                                    tr("pacs.col.expected"): round(k.result.expected_grade, 2)}
                        else:
                            row[tr("pacs.col.error")] = k.error.message(lang())
                        rows.append(row)
                bar.progress(i / len(studies), text=tr("pacs.batch_progress", done=i, total=len(studies)))
        except KneeAIError as exc:
            show_error(exc)
        put("pacs_batch", (rows, n_knees, failed))
    result = get("pacs_batch")
    if result is not None:
        rows, n_knees, failed = result
        st.success(tr("pacs.batch_done", n=n_knees, failed=failed))
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


page_header("nav.pacs")
st.caption(tr("pacs.help"))
_connection()
_search()
studies: list[StudySummary] | None = get("pacs_studies")
if studies is not None:
    if not studies:
        st.info(tr("pacs.no_studies"), icon=":material/search_off:")
    else:
        st.caption(tr("pacs.n_studies", n=len(studies)))
        _study_table(studies)
        labels = {s.study_uid: f"{s.date} · {s.accession or '—'} · {s.description or ', '.join(s.modalities)}"
                  for s in studies}
        uid = st.selectbox(tr("pacs.study"), list(labels), format_func=labels.get, key="pacs_study")
        _study(next(s for s in studies if s.study_uid == uid))
        st.divider()
        _batch(studies)
