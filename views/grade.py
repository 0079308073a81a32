"""Grade: upload a radiograph, place a box on each knee, and see the KL grade."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from kneeai.config import SETTINGS
from kneeai.errors import KneeAIError, NotAKnee
from kneeai.grading.charts import probability_figure
from kneeai.grading.wording import grade_sentence, uncertainty_level
from kneeai.imaging.localize import is_single_knee
from kneeai.imaging.draw import box_from_selection, film_box_figure
from kneeai.io import load_radiograph
from kneeai.schemas import CropBox, GradeResult, KneeCrop, Radiograph
from ui.auth import audit_user, guard_upload
from ui.loaders import grader
from ui.state import Key, clear_image, get, lang, put
from ui.widgets import page_header, show_error, tr

LATERALITY_OPTIONS = (None, "R", "L")


def _lat_label(value: str | None) -> str:
    return tr({"R": "grade.lat_right", "L": "grade.lat_left"}.get(value or "", "grade.lat_unknown"))


# Built once per run, so format_func does not need the session (AppTest calls it outside a run).
LAT_LABELS = {v: _lat_label(v) for v in LATERALITY_OPTIONS}


def _receive_upload() -> None:
    uploaded = st.file_uploader(tr("grade.upload"), type=None, help=tr("grade.upload_help"), key="uploader")
    guard_upload(uploaded)  # demo accounts: the example knees only
    examples = sorted(SETTINGS.examples_dir.glob("knees/*.webp"))
    col_a, col_b = st.columns([3, 1])
    with col_a:
        example = st.selectbox(tr("grade.example"), [None, *examples], format_func=lambda p: tr("grade.example_none") if p is None else p.name, key="example_pick")
    data = name = None
    if uploaded is not None:
        data, name = uploaded.getvalue(), uploaded.name
    elif example is not None:
        data, name = example.read_bytes(), example.name
    if data is None:
        return
    digest = hashlib.sha256(data).hexdigest()
    if get(Key.UPLOAD_NAME) != (name, digest):
        clear_image()
        st.session_state.pop("lat_single", None)  # the new image's side starts from what the pipeline read
        put(Key.UPLOAD_NAME, (name, digest))
        put(Key.UPLOAD_BYTES, data)


def _radiograph() -> Radiograph | None:
    rad = get(Key.RADIOGRAPH)
    if rad is not None:
        return rad
    data = get(Key.UPLOAD_BYTES)
    if data is None:
        return None
    try:
        rad = load_radiograph(data)
    except KneeAIError as exc:
        show_error(exc)
        return None
    put(Key.RADIOGRAPH, rad)
    return rad


def _describe(rad: Radiograph) -> None:
    h, w = rad.shape
    spacing = tr("grade.spacing_unknown") if rad.spacing_mm is None else f"{rad.spacing_mm[0]:.3f} × {rad.spacing_mm[1]:.3f} mm"
    st.caption(tr("grade.file_facts", source=rad.source, rows=h, cols=w, spacing=spacing))
    for w_key in rad.warnings:
        st.warning(tr(w_key), icon=":material/info:")


def _selection(key: str) -> dict | None:
    """The box selection of chart ``key`` from the last run, as a plain dict."""
    state = st.session_state.get(key)
    selection = state.get("selection") if state is not None else None
    return {"box": list(selection.get("box") or [])} if selection is not None else None


def _box_editor(rad: Radiograph) -> list[tuple[CropBox, str | None]]:
    """Each knee's box, pre-placed by the pipeline: dragged on the film or nudged with sliders.

    The side comes with its source (DICOM header, position on the film, or the user).
    """
    from kneeai.pipeline import knees

    h, w = rad.shape
    cached = get(Key.KNEE_BOXES)
    if not cached or cached[0] != rad.sha256:
        # Once per film: about a second of network passes per knee.
        with st.spinner(tr("grade.centring")):
            cached = (rad.sha256, [(k.box, k.laterality, k.laterality_source) for k in knees(rad, "film", grader())])
        put(Key.KNEE_BOXES, cached)
    guesses = cached[1] or [(CropBox(0, 0, min(h, w), min(h, w)), None, None)]
    if get("box_state_for") != rad.sha256:
        # The sliders hold each box; they start on the pipeline's boxes for every new film.
        for i in range(2):
            box, _, _ = guesses[min(i, len(guesses) - 1)]
            st.session_state[f"side_{i}"] = min(box.height, h, w)
            st.session_state[f"cx_{i}"] = box.left + box.width // 2
            st.session_state[f"cy_{i}"] = box.top + box.height // 2
        put("box_state_for", rad.sha256)
        put("box_drawn", None)
    st.info(tr("grade.place_boxes"), icon=":material/pan_tool:")
    n = st.radio(tr("grade.n_knees"), (1, 2), index=min(len(guesses), 2) - 1, horizontal=True, key="n_knees")
    target = 0
    if n > 1:
        target = st.radio(tr("grade.draw_target"), range(n), format_func=lambda i: f"#{i + 1}", horizontal=True,
                          key="draw_target")
    drawn = box_from_selection(_selection("film_boxes"), (h, w))
    if drawn is not None and get("box_drawn") != (target, drawn):
        # A rectangle dragged on the film moves the chosen knee's box (once: the sliders then rule).
        st.session_state[f"side_{target}"] = drawn.height
        st.session_state[f"cx_{target}"] = drawn.left + drawn.width // 2
        st.session_state[f"cy_{target}"] = drawn.top + drawn.height // 2
        put("box_drawn", (target, drawn))
    chosen: list[tuple[CropBox, str | None]] = []
    cols = st.columns(n)
    for i in range(n):
        _, lat, source = guesses[min(i, len(guesses) - 1)]
        with cols[i]:
            st.markdown(f"**{tr('grade.knee_n', n=i + 1)}**")
            side = st.slider(tr("grade.box_size"), 32, min(h, w), key=f"side_{i}")
            cx = st.slider(tr("grade.box_x"), 0, w, key=f"cx_{i}")
            cy = st.slider(tr("grade.box_y"), 0, h, key=f"cy_{i}")
            default = LATERALITY_OPTIONS.index(lat) if lat in LATERALITY_OPTIONS else 0
            lat_choice = st.radio(tr("grade.laterality"), LATERALITY_OPTIONS, index=default, format_func=LAT_LABELS.get, horizontal=True, key=f"lat_{i}")
            shown = "user" if lat_choice != lat else source
            st.caption(tr("grade.lat_source." + (shown or "none")))
            chosen.append((CropBox(cy - side // 2, cx - side // 2, side, side), lat_choice))
    st.caption(tr("grade.boxes_caption"))
    st.plotly_chart(film_box_figure(rad.pixels, [b for b, _ in chosen], [f"#{i + 1}" for i in range(n)]),
                    key="film_boxes", on_select="rerun", selection_mode="box", width="stretch",
                    config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "toImage"]})
    return chosen


def _grade_crops(crops: list[KneeCrop]) -> None:
    from kneeai.pipeline import Audit, grade_user_crops

    with st.spinner(tr("grade.running")):
        done = grade_user_crops(crops, get(Key.RADIOGRAPH), allow_outside_use=bool(get(Key.OVERRIDE_OOD, False)),
                                grader=grader(), audit=Audit(subject=get(Key.PATIENT_PSEUDONYM), user=audit_user()))
    if done.audit_error is not None:
        show_error(done.audit_error)
    put(Key.CROPS, crops)
    put(Key.GRADES, done.results)
    put(Key.ACTIVE_CROP, min(done.results) if done.results else 0)
    put("grade_errors", done.errors)


def _small_film(rad: Radiograph) -> bool:
    """Whether the image, graded whole as one knee crop, is a film exported small
    (:func:`kneeai.pipeline.is_small_film`)."""
    from kneeai.pipeline import is_small_film

    errors = get("grade_errors", {}) or {}
    grades = get(Key.GRADES, {}) or {}
    crops = get(Key.CROPS) or []
    if not crops or (0 not in errors and 0 not in grades):
        return False
    return is_small_film(rad, crops[0], grades.get(0), errors.get(0), grader=grader())


def _show_result(i: int, crop: KneeCrop, result: GradeResult) -> None:
    language = lang()
    left, right = st.columns([1, 2])
    with left:
        st.image(np.clip(crop.pixels, 0, 1), caption=f"{tr('grade.knee_n', n=i + 1)} · {_lat_label(crop.laterality)}", width=280)
        if crop.inverted:
            st.info(tr("grade.inverted"), icon=":material/invert_colors:")
    with right:
        if result.model.placeholder:
            st.warning(tr("warn.placeholder_model"), icon=":material/construction:")
        if result.outside_validated_use:
            st.error(tr("grade.outside_validated_use"), icon=":material/block:")
        st.subheader(grade_sentence(result, language))
        st.write(tr(f"kl.{result.kl_grade}.plain"))
        st.plotly_chart(probability_figure(result, language), width="stretch", key=f"prob_{i}")
        c1, c2, c3 = st.columns(3)
        c1.metric(tr("grade.expected"), f"{result.expected_grade:.2f}")
        c2.metric(tr("grade.entropy"), f"{result.entropy:.2f}")
        c3.metric(tr("grade.flip_disagreement"), f"{100 * result.flip_disagreement:.0f}%")
        st.caption(tr("grade.uncertainty") + ": " + tr("uncertainty." + uncertainty_level(result)))
        st.caption(tr("grade.model") + f": {result.model.model_id} · sha256 {result.model.sha256[:12] or '—'}")


page_header("nav.grade")
_receive_upload()
rad = _radiograph()
if rad is not None:
    _describe(rad)
    # The size heuristic guesses; the user decides (a small bilateral film can look like a crop).
    kinds = ("single", "film")
    kind_labels = {k: tr(f"grade.kind.{k}") for k in kinds}
    if get("small_film_notice") == rad.sha256 and get("small_film_switched") != rad.sha256:
        # Set before the radio exists (a widget's value cannot change once it is drawn), once.
        st.session_state["image_kind"] = "film"
        put("small_film_switched", rad.sha256)
    kind = st.radio(tr("grade.kind"), kinds, index=0 if is_single_knee(rad) else 1, format_func=kind_labels.get,
                    horizontal=True, key="image_kind")
    if kind == "single":
        from dataclasses import replace

        from kneeai.pipeline import knees

        single = get("single_knee")
        if single is None or single[0] != rad.sha256:
            # The pipeline's crop of a one-knee image (a wider crop squared on the joint) and its side.
            single = (rad.sha256, knees(rad, "crop", grader())[0])
            put("single_knee", single)
        located = single[1]
        default = LATERALITY_OPTIONS.index(located.laterality) if located.laterality in LATERALITY_OPTIONS else 0
        lat = st.radio(tr("grade.laterality"), LATERALITY_OPTIONS, index=default, format_func=LAT_LABELS.get, horizontal=True, key="lat_single")
        st.caption(tr("grade.lat_source." + ("user" if lat != located.laterality else (located.laterality_source or "none"))))
        previous = get(Key.CROPS)
        if previous is None or previous[0].laterality != lat:
            _grade_crops([replace(located.crop, laterality=lat)])
            if get("film_retried_for") != rad.sha256 and _small_film(rad):
                # Refused whole, knees found as a film: a film exported small. Once per image, so
                # the user can still take it as one knee.
                put("film_retried_for", rad.sha256)
                put("small_film_notice", rad.sha256)
                st.rerun()
    else:
        if get("small_film_notice") == rad.sha256:
            st.info(tr("grade.small_film_notice"), icon=":material/photo_size_select_large:")
        chosen = _box_editor(rad)
        if st.button(tr("grade.run"), type="primary"):
            from kneeai.pipeline import crop_on_film

            _grade_crops([crop_on_film(rad, box, lat) for box, lat in chosen])

    errors: dict[int, KneeAIError] = get("grade_errors", {}) or {}
    for i, exc in errors.items():
        # Say which knee: on a bilateral film one box may pass and the other not.
        st.error(f"{tr('grade.knee_n', n=i + 1)}: {exc.message(lang())}", icon=":material/warning:")
        if isinstance(exc, NotAKnee) and not get(Key.OVERRIDE_OOD):
            if st.button(tr("grade.grade_anyway"), key=f"anyway_{i}"):
                put(Key.OVERRIDE_OOD, True)
                _grade_crops(get(Key.CROPS))
                st.rerun()
    grades: dict[int, GradeResult] = get(Key.GRADES, {}) or {}
    for i, result in grades.items():
        st.divider()
        _show_result(i, get(Key.CROPS)[i], result)
else:
    st.info(tr("grade.start_hint"), icon=":material/upload:")
