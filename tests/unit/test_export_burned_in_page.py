"""AppTest: the Export page asks before a film with burned-in identifying text leaves as an image."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from kneeai.i18n import t
from kneeai.schemas import KneeCrop, Radiograph
from tests.conftest import ROOT
from tests.unit.fake_results import fake_crop, fake_explanation, fake_grade, fake_risk


def _analysis(at: AppTest, burned_in: bool) -> None:
    crop = KneeCrop(pixels=fake_crop(1), laterality="R", box=None, source_sha256="1" * 64, mm_per_pixel=0.5)
    meta = {"BurnedInAnnotation": "YES"} if burned_in else {}
    at.session_state["radiograph"] = Radiograph(pixels=crop.pixels, spacing_mm=(0.5, 0.5), laterality="R", source="test",
                                                meta=meta, sha256="1" * 64)
    at.session_state["crops"] = [crop]
    at.session_state["grades"] = {0: fake_grade(2)}
    at.session_state["active_crop"] = 0
    at.session_state["explanations"] = {(0, "gradcam", 2): fake_explanation(2)}
    at.session_state["clinical"] = {"age": 63, "sex": "F", "bmi": 29.5, "womac_pain": 7}
    at.session_state["risk"] = fake_risk(2)
    at.session_state["override"] = None
    at.session_state["visit_id"] = None


def test_burned_in_film_needs_a_tick_before_the_pdf_is_offered():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["lang"] = "en"
    at.run()
    _analysis(at, burned_in=True)
    at.switch_page("views/export.py").run()
    assert not at.exception
    assert any(t("intake.warn.burned_in_annotation", "en") in w.value for w in at.warning)
    assert any(t("error.burned_in_annotation", "en") in e.value for e in at.error)
    assert len(at.get("download_button")) == 0
    at.checkbox(key="export_burned_in_ok").check().run()
    assert not at.exception and not at.error
    assert len(at.get("download_button")) == 3  # PDF, JSON, FHIR


def test_an_ordinary_film_is_not_asked_about():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["lang"] = "en"
    at.run()
    _analysis(at, burned_in=False)
    at.switch_page("views/export.py").run()
    assert not at.exception
    assert not any(c.key == "export_burned_in_ok" for c in at.checkbox)
    assert len(at.get("download_button")) == 3
