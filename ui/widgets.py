"""Shared widgets: translated text, the intended-use banner, and error display."""
from __future__ import annotations

from typing import Any

import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from ui.state import lang

__all__ = ["tr", "page_header", "show_error", "coming_soon", "intended_use"]


def tr(key: str, **params: Any) -> str:
    return t(key, lang(), **params)


def intended_use() -> None:
    st.caption(":material/medical_information: " + tr("app.intended_use"))


def page_header(title_key: str) -> None:
    st.title(tr(title_key))
    intended_use()


def show_error(exc: KneeAIError) -> None:
    st.error(exc.message(lang()), icon=":material/warning:")


def coming_soon() -> None:
    st.info(tr("app.coming_soon"), icon=":material/construction:")
