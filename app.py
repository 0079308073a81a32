"""KneeAI: the Streamlit entry point. Routing (the pages the visitor's role allows), the sidebar
(patient, language, account) and nothing else."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from kneeai.auth import Access, AccessMode
from kneeai.i18n import LANGUAGE_NAMES, LANGUAGES, t
from ui.auth import account_panel, current_access, no_role_page, page_allowed_now, refuse_page, sign_in_page
from ui.navigation import PAGES
from ui.state import Key, get, lang, put


def sidebar(access: Access) -> None:
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
        account_panel(access)
        st.caption(t("app.intended_use", choice))


def main() -> None:
    st.set_page_config(page_title="KneeAI", page_icon=":material/orthopedics:", layout="wide")
    if Key.LANG not in st.session_state:
        # ?lang=zh lets a shared link or a kiosk open in Chinese.
        requested = st.query_params.get("lang")
        put(Key.LANG, requested if requested in LANGUAGES else "en")
    language = lang()
    access = current_access()
    if access.mode is AccessMode.SIGN_IN and not access.capabilities:
        # Not signed in, or signed in without a KneeAI role: one page and nothing else.
        only = sign_in_page if not access.signed_in else no_role_page
        page = st.Page(only, title=t("auth.sign_in", language), icon=":material/login:", url_path="sign_in")
        nav = st.navigation([page])
        sidebar(access)
        nav.run()
        return
    # Signed in: the pages the roles allow. Single workstation: every page. Refused (reachable
    # from the network without sign-in): every page is listed, the patient pages say why they are closed.
    pages = {
        Path(path).stem: st.Page(path, title=t(title, language), icon=icon, default=default, url_path=Path(path).stem)
        for path, title, icon, default in PAGES
        if access.mode is not AccessMode.SIGN_IN or page_allowed_now(Path(path).stem, access)
    }
    nav = st.navigation(list(pages.values()))
    sidebar(access)
    chosen = next((stem for stem, page in pages.items() if page is nav), "")
    if page_allowed_now(chosen, access):
        nav.run()
    else:
        st.title(nav.title)
        refuse_page(access)


main()
