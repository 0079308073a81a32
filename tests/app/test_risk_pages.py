"""AppTest: the TKR risk, validation and refit pages in both languages."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from kneeai.i18n import t
from kneeai.schemas import GradeResult, ModelInfo
from tests.conftest import ROOT

SIMULATED = {"en": "simulated cohort", "zh": "模拟队列"}


def _app(lang: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.session_state["lang"] = lang
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning] + [i.value for i in at.info]
    return " ".join(parts)


def _type_patient(at: AppTest) -> None:
    at.number_input(key="risk_age").set_value(66).run()
    at.number_input(key="risk_bmi").set_value(32.0).run()
    at.number_input(key="risk_pain").set_value(9).run()
    at.radio(key="risk_sex").set_value("F").run()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_risk_page_asks_for_inputs_then_shows_both_models_and_what_if(lang):
    at = _app(lang).run()
    at.switch_page("views/risk.py").run()
    assert not at.exception
    assert at.title[0].value == t("nav.risk", lang)
    # Untouched: one calm prompt, no errors.
    assert any(t("risk.enter_inputs", lang) in i.value for i in at.info) and not at.error
    # Partly typed: the missing fields are named.
    at.number_input(key="risk_age").set_value(66).run()
    assert any(t("error.missing_clinical", lang, field=t("clinical.field.bmi", lang)) in e.value for e in at.error)
    _type_patient(at)
    at.selectbox(key="risk_kl_typed").set_value(3).run()
    assert not at.exception and not at.error
    risk = at.session_state["risk"]
    assert [m.model_name for m in risk.models] == ["cox", "deepsurv"] and risk.simulated
    table = at.dataframe[0].value
    assert len(table) == 2 and table.shape[1] == 5
    assert SIMULATED[lang] in _texts(at) or lang == "en" and "Simulated cohort" in _texts(at)
    at.slider[0].set_value(27.0).run()
    assert not at.exception
    sentences = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert len(sentences) == 2 and all("→" in s and SIMULATED[lang] in s for s in sentences)
    assert len(at.get("plotly_chart")) == 2


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_invalid_inputs_are_kept_and_explained_across_page_switches(lang):
    at = _app(lang).run()
    at.switch_page("views/risk.py").run()
    _type_patient(at)
    at.selectbox(key="risk_kl_typed").set_value(2).run()
    at.number_input(key="risk_bmi").set_value(400.0).run()
    assert not at.exception
    assert any("400" in e.value and t("clinical.field.bmi", lang) in e.value for e in at.error)
    assert "risk" not in at.session_state
    at.switch_page("views/about.py").run()
    at.switch_page("views/risk.py").run()
    assert at.number_input(key="risk_bmi").value == 400.0
    assert at.session_state["clinical"]["bmi"] == 400.0


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_image_grade_is_mixed_and_an_override_wins(lang):
    at = _app(lang)
    probs = (0.05, 0.10, 0.20, 0.40, 0.25)
    at.session_state["grades"] = {0: GradeResult(3, probs, 2.7, 1.4, 0.05, ModelInfo("test", "x"))}
    at.session_state["active_crop"] = 0
    at.session_state["clinical"] = {"age": 70, "sex": "M", "bmi": 29.5, "womac_pain": 6}
    at.run()
    at.switch_page("views/risk.py").run()
    assert not at.exception
    assert at.session_state["risk"].inputs.kl_probabilities == probs
    assert any("KL3 40%" in c.value for c in at.caption)
    at.session_state["override"] = (4, "osteophytes")
    at.run()
    risk = at.session_state["risk"]
    assert risk.inputs.kl_grade == 4 and risk.inputs.kl_probabilities is None
    assert any("osteophytes" in i.value for i in at.info)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_validation_page_shows_the_numbers_the_checks_and_the_literature(lang):
    at = _app(lang).run()
    at.switch_page("views/risk_validation.py").run()
    assert not at.exception
    assert at.title[0].value == t("nav.risk_validation", lang)
    assert len(at.dataframe) == 3
    metrics = at.dataframe[0].value
    assert len(metrics) == 4 and t("risk.model.true_risk", lang) in set(metrics.iloc[:, 0])
    assert sum(":material/check_circle:" in m.value for m in at.markdown) == 2
    assert "Jamshidi" in " ".join(at.dataframe[2].value.iloc[:, 0])
    assert SIMULATED[lang] in _texts(at) or "Simulated cohort" in _texts(at)
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_refit_page_fits_a_non_knee_table_and_applies_it(lang):
    at = _app(lang).run()
    at.switch_page("views/risk_refit.py").run()
    assert not at.exception
    assert any(t("refit.no_model", lang) in i.value for i in at.info)
    at.selectbox(key="refit_example").set_value("generic").run()
    assert at.selectbox(key="refit_time").value == "hours" and at.selectbox(key="refit_event").value == "failed"
    assert at.multiselect(key="refit_categorical").value == ["site"]
    at.button(key="refit_fit").click().run()
    assert not at.exception and not at.error
    model = at.session_state["custom_survival_model"]
    assert model.features == ("load_kw", "supplier", "site") and not model.simulated
    assert 0.5 < model.meta["c_index_holdout"] < 1
    assert any("**" in m.value and "%" in m.value for m in at.markdown)
    at.number_input(key="refit_in_load_kw").set_value(14.0).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
