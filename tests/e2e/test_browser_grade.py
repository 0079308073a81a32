"""The real thing: `streamlit run`, Debian's Chromium, an uploaded knee, a grade on screen."""
from __future__ import annotations

import pytest

from tests.e2e.browser import ROOT, chromium_page, streamlit_server, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = ROOT / "examples" / "knees" / "kl3_9023348L.webp"


@pytest.mark.parametrize("lang,expected", [("en", "probability"), ("zh", "概率")])
def test_upload_a_knee_and_see_its_grade(tmp_path, lang, expected):
    with streamlit_server(tmp_path / "e2e.db") as url, chromium_page() as page:
        page.goto(f"{url}/?lang={lang}")
        page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
        page.locator("input[type='file']").first.set_input_files(str(EXAMPLE))
        page.get_by_text("KL", exact=False).first.wait_for()
        wait_idle(page)
        headline = page.locator("h3").filter(has_text="KL").first.inner_text()
        assert "KL" in headline and expected in headline
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / f"grade-{lang}.png"), full_page=True)
