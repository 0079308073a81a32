"""A page opened straight from its URL is routed by st.navigation alone: with the sidebar, the
page list and the language of the link (no legacy pages/ folder discovery, no work-around)."""
from __future__ import annotations

import pytest

from kneeai.i18n import t
from tests.e2e.browser import chromium_page, streamlit_server, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_deep_link_opens_that_page_with_the_sidebar(tmp_path, lang):
    with streamlit_server(tmp_path / "e2e.db") as url, chromium_page() as page:
        page.goto(f"{url}/risk_validation?lang={lang}")
        page.locator("h1").filter(has_text=t("nav.risk_validation", lang)).first.wait_for(timeout=60_000)
        wait_idle(page)
        sidebar = page.locator("[data-testid='stSidebar']")
        assert sidebar.get_by_text(t("nav.grade", lang)).count() >= 1
        assert sidebar.get_by_text(t("app.patient", lang)).count() >= 1
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.url.rstrip("/").split("?")[0].endswith("/risk_validation")
