"""In Chromium: grade a knee, create a patient, save the visit, override it, open the
consultation view and the exports, in both languages."""
from __future__ import annotations

import pytest

from kneeai.i18n import t
from kneeai.store import registry
from tests.e2e.browser import ROOT, chromium_page, streamlit_server, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = ROOT / "examples" / "knees" / "kl3_9023348L.webp"


def _go(page, lang: str, nav_key: str, landmark: str) -> None:
    page.get_by_role("link", name=t(nav_key, lang)).first.click()
    page.get_by_text(landmark).first.wait_for(timeout=120_000)
    wait_idle(page)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_patient_visit_consultation_and_export_in_the_browser(tmp_path, lang, monkeypatch):
    db = tmp_path / "e2e.db"
    with streamlit_server(db) as url, chromium_page() as page:
        page.goto(f"{url}/?lang={lang}")
        page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
        page.locator("input[type='file']").first.set_input_files(str(EXAMPLE))
        page.locator("h3").filter(has_text="KL").first.wait_for(timeout=180_000)  # the grade headline, not the file name
        wait_idle(page)

        _go(page, lang, "nav.patient", t("patient.new_help", lang))
        page.get_by_role("button", name=t("patient.create", lang)).click()
        wait_idle(page)
        page.get_by_text(t("patient.save_heading", lang)).wait_for(timeout=120_000)
        page.get_by_role("button", name=t("patient.save", lang)).click()
        wait_idle(page)
        page.get_by_text(t("patient.saved", lang, n=1)).wait_for(timeout=120_000)

        _go(page, lang, "nav.consult", t("consult.your_knee", lang))
        assert page.locator("h1").filter(has_text="KL").count() >= 1

        _go(page, lang, "nav.export", t("export.include_identifiers", lang))
        for key in ("export.pdf", "export.json", "export.fhir"):
            page.get_by_role("button", name=t(key, lang)).wait_for()
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / f"export-{lang}.png"), full_page=True)
    monkeypatch.setenv("KNEEAI_DB", str(db))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    (patient,) = registry.list_patients()
    assert patient.n_visits == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_page_opened_from_its_url_keeps_the_page_the_sidebar_and_the_language(tmp_path, lang):
    with streamlit_server(tmp_path / "e2e.db") as url, chromium_page() as page:
        page.goto(f"{url}/patient?lang={lang}")
        page.get_by_text(t("patient.new_help", lang)).first.wait_for(timeout=120_000)
        wait_idle(page)
        assert page.locator("h1").filter(has_text=t("nav.patient", lang)).count() == 1
        # Routed through app.py: the page list and the language switch are there.
        assert page.get_by_role("link", name=t("nav.grade", lang)).count() >= 1
        assert page.get_by_text("Language / 语言").count() >= 1
        assert page.url.rstrip("/").split("?")[0].endswith("/patient")
