"""Cached model loaders (shared across sessions: models only, never patient data)."""
from __future__ import annotations

import streamlit as st

from kneeai.grading.weights import Grader, load_grader
from kneeai.survival.ensemble import SurvivalModel

__all__ = ["grader", "survival_models"]


@st.cache_resource(show_spinner=False)
def grader() -> Grader:
    return load_grader()


@st.cache_resource(show_spinner=False)
def survival_models() -> tuple[SurvivalModel, ...]:
    """The shipped demo TKR models (Cox, DeepSurv), checked against the manifest once per process."""
    from kneeai.survival.demo import load_demo_models

    return load_demo_models()
