"""Typed access to st.session_state: one home for every session key.

Patient data lives only in the session (never in st.cache_data, which all users share).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from kneeai.config import SETTINGS

__all__ = ["Key", "get", "put", "lang", "clear_image"]


class Key:
    LANG = "lang"
    PATIENT_ID = "patient_id"  # registry id of the current patient, or None
    PATIENT_PSEUDONYM = "patient_pseudonym"
    UPLOAD_NAME = "upload_name"
    UPLOAD_BYTES = "upload_bytes"
    RADIOGRAPH = "radiograph"  # kneeai.schemas.Radiograph
    KNEE_BOXES = "knee_boxes"  # (radiograph sha256, [(CropBox, laterality)]): the centred first guess
    CROPS = "crops"  # list[kneeai.schemas.KneeCrop]
    ACTIVE_CROP = "active_crop"  # index into CROPS
    GRADES = "grades"  # dict[int, GradeResult] by crop index
    OVERRIDE_OOD = "override_ood"
    EXPLANATIONS = "explanations"
    CLINICAL = "clinical"  # dict of the clinical inputs as typed (kept even when invalid)
    RISK = "risk"  # kneeai.schemas.RiskResult
    OVERRIDE = "override"  # (grade, reason) or None
    CUSTOM_SURVIVAL_MODEL = "custom_survival_model"  # kneeai.survival.ensemble.SurvivalModel fitted on the user's table
    REFIT_TABLE = "refit_table"  # the user's survival table (DataFrame) on the refit page
    VISIT_ID = "visit_id"


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def lang() -> str:
    return st.session_state.get(Key.LANG, SETTINGS.default_language)


def clear_image() -> None:
    """Forget everything derived from the current image (a new upload starts fresh)."""
    for k in (Key.RADIOGRAPH, Key.CROPS, Key.ACTIVE_CROP, Key.GRADES, Key.EXPLANATIONS, Key.RISK, Key.OVERRIDE, Key.OVERRIDE_OOD, Key.VISIT_ID):
        st.session_state.pop(k, None)
