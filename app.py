"""KneeAI: the Streamlit entry point. Routing, the sidebar (patient and language) and nothing else."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from kneeai.i18n import LANGUAGE_NAMES, LANGUAGES, t
from ui.navigation import DEFAULT_PAGE, PAGES
from ui.state import Key, get, lang, put


def sidebar() -> None:
    with st.sidebar:
        current = lang()
        choice = st.selectbox(
            "Language / 语言",
            LANGUAGES,
            index=LANGUAGES.index(current),
            format_func=LANGUAGE_NAMES.get,
            key="_lang_select",
        )
        if choice != current:
            put(Key.LANG, choice)
            st.rerun()
        st.markdown("**" + t("app.patient", choice) + "**")
        st.write(get(Key.PATIENT_PSEUDONYM) or t("app.no_patient", choice))
        st.caption(t("app.intended_use", choice))


def main() -> None:
    st.set_page_config(page_title="KneeAI", page_icon=":material/orthopedics:", layout="wide")
    if Key.LANG not in st.session_state:
        # ?lang=zh lets a shared link or a kiosk open in Chinese.
        requested = st.query_params.get("lang")
        put(Key.LANG, requested if requested in LANGUAGES else "en")
    language = lang()
    pages = [
        st.Page(path, title=t(title, language), icon=icon, default=default, url_path=Path(path).stem)
        for path, title, icon, default in PAGES
    ]
    nav = st.navigation(pages)
    sidebar()
    nav.run()


main()
