"""Shared widgets: translated text, the intended-use banner, and error display."""
from __future__ import annotations

from pathlib import Path

from typing import Any

import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from ui.state import lang

__all__ = ["tr", "page_header", "show_error", "coming_soon", "intended_use", "ensure_routed", "ROUTED_FLAG"]


def tr(key: str, **params: Any) -> str:
    return t(key, lang(), **params)


def intended_use() -> None:
    st.caption(":material/medical_information: " + tr("app.intended_use"))


DEEP_LINK = "_deep_link"
ROUTED_FLAG = "_routed_by_app"


def ensure_routed() -> None:
    """Send a page opened straight from its URL through app.py, and on to that page.

    On a session's first request for /patient, Streamlit runs pages/patient.py on its own (the
    legacy pages/ folder routing), without the sidebar, the language or the page list. app.py
    sets a flag on every run; a page that does not see it remembers itself in DEEP_LINK and
    restarts the session at app.py, which then switches to it.
    """
    if not st.session_state.get(ROUTED_FLAG):
        from kneeai.i18n import LANGUAGES

        if st.query_params.get("lang") in LANGUAGES:
            st.session_state["lang"] = st.query_params["lang"]
        page = _calling_page()
        if page:
            st.session_state[DEEP_LINK] = page
        st.switch_page("app.py")


def _calling_page() -> str | None:
    """The pages/<name>.py file whose module code called us, as app.py registers it."""
    import inspect

    for frame in inspect.stack():
        path = Path(frame.filename)
        if path.parent.name == "pages" and path.suffix == ".py":
            return f"pages/{path.name}"
    return None


def page_header(title_key: str) -> None:
    ensure_routed()
    st.title(tr(title_key))
    intended_use()


def show_error(exc: KneeAIError) -> None:
    st.error(exc.message(lang()), icon=":material/warning:")


def coming_soon() -> None:
    st.info(tr("app.coming_soon"), icon=":material/construction:")
