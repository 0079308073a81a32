"""AppTest: create a patient, save two graded visits, override one, compare them, open the
consultation view, and export, in both languages. Grading itself is another page's test; here
the session holds fixed results, as the Grade page would leave them."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from kneeai.i18n import t
from kneeai.schemas import KneeCrop, Radiograph
from kneeai.store import registry
from tests.conftest import ROOT
from tests.unit.fake_results import fake_crop, fake_explanation, fake_grade, fake_risk


def _app(lang: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["lang"] = lang
    return at


def _analysis(at: AppTest, kl: int, seed: int, identifiers: dict[str, str] | None = None) -> None:
    """What the Grade, Explain and Risk pages leave in the session for one right knee."""
    crop = KneeCrop(pixels=fake_crop(seed), laterality="R", box=None, source_sha256=f"{seed:064x}", mm_per_pixel=0.5)
    at.session_state["radiograph"] = Radiograph(pixels=crop.pixels, spacing_mm=(0.5, 0.5), laterality="R", source="test",
                                                identifiers=identifiers or {}, sha256=f"{seed:064x}")
    at.session_state["crops"] = [crop]
    at.session_state["grades"] = {0: fake_grade(kl)}
    at.session_state["active_crop"] = 0
    at.session_state["explanations"] = {(0, "gradcam", kl): fake_explanation(kl)}
    at.session_state["clinical"] = {"age": 63, "sex": "F", "bmi": 29.5, "womac_pain": 7}
    at.session_state["risk"] = fake_risk(kl)
    at.session_state["override"] = None
    at.session_state["visit_id"] = None


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info] + [s.value for s in at.success]
    parts += [w.value for w in at.warning] + [h.value for h in at.header] + [h.value for h in at.subheader] + [h.value for h in at.title]
    return "\n".join(parts)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_patient_visits_override_compare_consult_export(lang):
    at = _app(lang).run()
    at.switch_page("views/patient.py").run()
    assert not at.exception
    # A new patient: the name is stored apart and the pseudonym is what shows.
    at.text_input(key="new_name").set_value("Doe^Jane")
    at.button(key="patient_create").click().run()
    assert not at.exception
    pid, pseudonym = at.session_state["patient_id"], at.session_state["patient_pseudonym"]
    assert pseudonym.startswith("KN-") and "Doe" not in _texts(at)
    assert t("patient.current", lang, pseudonym=pseudonym) in _texts(at)

    # Visit 1: KL 2.
    _analysis(at, 2, 1, {"PatientName": "Doe^Jane", "PatientID": "PID-9"})
    at.run()
    at.date_input(key="visit_date").set_value(dt.date(2024, 1, 10))
    at.button(key="visit_save").click().run()
    assert not at.exception
    assert t("patient.saved", lang, n=1) in _texts(at)

    # Visit 2: the model says KL 3; the clinician sets KL 4 with a reason (on the Export page).
    _analysis(at, 3, 2)
    at.switch_page("views/export.py").run()
    assert not at.exception
    at.selectbox(key="export_override_grade").set_value(4)
    at.text_area(key="export_override_reason").set_value("bone on bone medially")
    at.button(key="export_override_apply").click().run()
    assert not at.exception
    assert at.session_state["override"] == (4, "bone on bone medially")
    at.switch_page("views/patient.py").run()
    at.date_input(key="visit_date").set_value(dt.date(2025, 1, 12))
    at.button(key="visit_save").click().run()
    assert not at.exception

    visits = registry.visits_for(pid)
    assert [v.grade.kl_grade for v in visits] == [2, 3] and [v.effective_grade for v in visits] == [2, 4]
    assert visits[1].override.reason == "bone on bone medially"
    # The override flowed into the risk that was saved (stand-in risk keeps its inputs' grade).
    assert visits[1].risk is not None

    # Timeline and comparison: KL 2 -> KL 4 over 368 days, with a joint-space comment.
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2
    text = _texts(at)
    assert t("patient.change", lang, before=2, after=4, words=t("patient.change_worse", lang, delta="+2"), days=368) in text
    assert any(k in text for k in (t("patient.jsw_within_noise", lang, threshold="0.7", sd_low=0.1, sd_high=0.3, low=0.3, high=0.7),
                                    t("patient.jsw_beyond_noise", lang, threshold="0.7", sd_low=0.1, sd_high=0.3, low=0.3, high=0.7)))

    # Override a stored grade: the first visit becomes KL 1, the model's KL 2 is kept.
    first = visits[0].id
    at.selectbox(key="override_visit").set_value(first).run()
    at.selectbox(key=f"stored_override_{first}_grade").set_value(1)
    at.text_area(key=f"stored_override_{first}_reason").set_value("osteophyte is a projection artefact")
    at.button(key=f"stored_override_{first}_apply").click().run()
    assert not at.exception
    v1 = registry.get_visit(first)
    assert v1.grade.kl_grade == 2 and v1.effective_grade == 1

    # Consultation: the grade in force in plain words, and the risk as 100 people.
    at.switch_page("views/consult.py").run()
    assert not at.exception
    text = _texts(at)
    assert t("kl.4.plain", lang) in text and t("consult.by_clinician", lang) in text
    assert "<svg" in text and text.count("<circle") == 100
    assert t("consult.simulated", lang) in text
    # Where the computer looked, in a patient's words (the largest region of this fake map).
    assert t("consult.looked_at", lang, where=t("consult.where.medial_joint_space", lang)) in text
    assert "Entropy" not in text and "熵" not in text  # no technical clutter

    # Export: identifiers only with the opt-in box.
    at.switch_page("views/export.py").run()
    assert not at.exception
    assert len(at.get("download_button")) == 4  # PDF, JSON, FHIR, CSV
    assert not at.checkbox(key="export_ids").value


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_without_data_explain_what_to_do(lang):
    at = _app(lang).run()
    for page, key in (("views/consult.py", "consult.need_grade"), ("views/export.py", "export.nothing")):
        at.switch_page(page).run()
        assert not at.exception
        assert any(t(key, lang) in i.value for i in at.info)
    at.switch_page("views/patient.py").run()
    assert not at.exception and t("patient.new", lang) in _texts(at)
    at.switch_page("views/batch.py").run()
    assert not at.exception and t("batch.help", lang) in _texts(at)
