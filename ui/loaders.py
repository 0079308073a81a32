"""Cached model loaders (shared across sessions: models only, never patient data)."""
from __future__ import annotations

import streamlit as st

from kneeai.grading.weights import Grader, load_grader

__all__ = ["grader"]


@st.cache_resource(show_spinner=False)
def grader() -> Grader:
    return load_grader()
