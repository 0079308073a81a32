"""AppTest: the PACS page's errors in the user's language, and its search against the real Orthanc."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from kneeai.i18n import t
from tests.conftest import ROOT


def _pacs_page(lang: str, monkeypatch, env: dict[str, str]) -> AppTest:
    for k in ("KNEEAI_PACS_URL", "KNEEAI_PACS_USER", "KNEEAI_PACS_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("views/pacs.py").run()
    assert not at.exception
    return at


def _search(at: AppTest, accession: str = "") -> AppTest:
    at.text_input(key="pacs_q_accession").set_value(accession)
    next(b for b in at.button if b.label == t("pacs.search", at.session_state["lang"])).click().run()
    assert not at.exception
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_a_pacs_the_page_says_what_to_set(lang, monkeypatch):
    at = _search(_pacs_page(lang, monkeypatch, {}))
    assert [e.value for e in at.error] == [t("pacs.error.not_configured", lang)]


def test_an_unreachable_pacs_is_one_clear_sentence(monkeypatch):
    from tests.e2e.browser import free_port

    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    at = _search(_pacs_page("zh", monkeypatch, {"KNEEAI_PACS_URL": url}))
    assert [e.value for e in at.error] == [t("pacs.error.unreachable", "zh", url=url, detail="ConnectionError")]


def test_search_lists_the_study_without_identity_and_its_knee_film(orthanc, studies, monkeypatch):
    at = _search(_pacs_page("en", monkeypatch, orthanc.env()), studies.knee_accession)
    assert not at.error
    assert t("pacs.n_studies", "en", n=1) in [c.value for c in at.caption]
    table = at.dataframe[0].value
    assert list(table[t("pacs.col.accession", "en")]) == [studies.knee_accession]
    assert t("pacs.col.patient", "en") not in table.columns
    assert at.subheader[0].value == t("pacs.films", "en", n=1)
    at.checkbox(key="pacs_show_identity").check().run()
    assert "KNEEAI^TEST · KNEEAI-TEST-1" in list(at.dataframe[0].value[t("pacs.col.patient", "en")])
    # A study with no knee film says so.
    _search(at, f"C{studies.knee_accession}"[:16])
    assert [e.value for e in at.error] == [t("pacs.error.no_knee_film", "en", study=studies.chest_study)]
