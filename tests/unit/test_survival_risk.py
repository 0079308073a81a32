"""The per-patient panel: KL mixing, contributions, what-if wording and input checks in both languages."""
from __future__ import annotations

import numpy as np
import pytest

from kneeai.errors import InvalidClinicalInput
from kneeai.schemas import RISK_HORIZONS_YEARS, RiskInput
from kneeai.survival.demo import load_demo_models
from kneeai.survival.risk import (
    assess,
    check_fields,
    contributions,
    missing_grade,
    model_risk,
    normalise_sex,
    predict_risk,
    risk_input_from_fields,
    what_if,
    what_if_sentences,
)

PATIENT = RiskInput(age=66, sex="F", bmi=32, womac_pain=9, kl_grade=3)
PROBS = (0.02, 0.08, 0.25, 0.45, 0.20)


@pytest.fixture(scope="module")
def models():
    return load_demo_models()


def test_panel_has_both_models_all_horizons_and_says_simulated(models):
    r = assess(PATIENT, models)
    assert [m.model_name for m in r.models] == ["cox", "deepsurv"]
    assert r.simulated and all(m.simulated for m in r.models)
    for m in r.models:
        assert set(m.risk_at) == set(RISK_HORIZONS_YEARS)
        for p, lo, hi in m.risk_at.values():
            assert 0 <= lo <= p <= hi <= 1
        assert m.times[0] == 0 and m.times[-1] == 9.0 and m.survival[0] == pytest.approx(1.0)
        assert np.all(np.diff(m.survival) <= 1e-12)
        assert np.all(np.asarray(m.survival_low) <= np.asarray(m.survival) + 1e-12)
        assert m.sha256 and m.model_id


def test_mixing_over_kl_probabilities_is_the_weighted_sum(models):
    mixed = RiskInput(**{**PATIENT.__dict__, "kl_probabilities": PROBS})
    for model in models:
        got = np.asarray(model_risk(mixed, model).survival)
        per_grade = [np.asarray(model_risk(RiskInput(**{**PATIENT.__dict__, "kl_grade": k}), model).survival) for k in range(5)]
        np.testing.assert_allclose(got, sum(p * s for p, s in zip(PROBS, per_grade)), rtol=1e-9)


def test_contributions_sum_to_the_log_hazard_difference(models):
    import pandas as pd

    for model in models:
        c = contributions(PATIENT, model)
        ref = pd.DataFrame([model.encoder.reference])
        me = pd.DataFrame([{"age": 66, "sex": "F", "bmi": 32, "womac_pain": 9, "kl": 3}])
        assert sum(c.values()) == pytest.approx(float(model.log_hazard(me)[0] - model.log_hazard(ref)[0]), abs=1e-9)
        # Above-reference pain and KL 3 (reference KL 2) push the risk up.
        assert c["womac_pain"] > 0 and c["kl_grade"] > 0


def test_cox_contributions_are_coefficient_times_difference(models):
    cox = models[0]
    mean, sd = cox.encoder.numeric["bmi"]
    beta = cox.point.coef_[list(cox.encoder.columns).index("bmi")]
    expected = beta * (32 - cox.encoder.reference["bmi"]) / sd
    assert contributions(PATIENT, cox)["bmi"] == pytest.approx(expected, rel=1e-9)


def test_lower_bmi_lowers_the_risk_and_is_worded_in_both_languages(models):
    base = assess(PATIENT, models)
    changed = assess(what_if(PATIENT, bmi=27), models)
    for b, c in zip(base.models, changed.models):
        assert c.risk_at[5.0][0] < b.risk_at[5.0][0]
    en = what_if_sentences(base, changed, "en")
    zh = what_if_sentences(base, changed, "zh")
    assert len(en) == 2 and "5-year risk" in en[0] and "→" in en[0] and "BMI were 27" in en[0] and "simulated cohort" in en[0]
    assert "模拟队列" in zh[0] and "BMI 为 27" in zh[0]
    assert what_if_sentences(base, base, "en") == []


@pytest.mark.parametrize("values, en, zh", [
    ({"age": 7}, "Age: 7 is outside the accepted range 18–100 years", "年龄：7 超出允许范围 18–100 岁"),
    ({"bmi": 400}, "BMI: 400 is outside the accepted range 12–70 kg/m²", "体重指数（BMI）：400 超出允许范围"),
    ({"womac_pain": 25}, "WOMAC pain: 25 is outside the accepted range 0–20", "WOMAC 疼痛评分：25 超出允许范围"),
    ({"bmi": None}, "BMI is missing", "缺少体重指数（BMI）"),
    ({"age": "sixty"}, "“sixty” is not a number", "“sixty”不是数字"),
    ({"kl_grade": 7}, "KL grade must be 0, 1, 2, 3 or 4", "Kellgren-Lawrence 分级必须为"),
])
def test_bad_inputs_get_clear_messages_in_both_languages(values, en, zh):
    typed = {"age": 66, "sex": "F", "bmi": 32, "womac_pain": 9, "kl_grade": 3, **values}
    with pytest.raises(InvalidClinicalInput) as info:
        risk_input_from_fields(typed)
    assert en in info.value.message("en")
    assert zh in info.value.message("zh")


def test_every_problem_is_reported_not_just_the_first():
    _, problems = check_fields({"age": 7, "sex": "", "bmi": 400, "womac_pain": None})
    assert len(problems) == 4


def test_sex_reads_as_typed_and_a_missing_grade_is_asked_for_only_when_all_else_is_fine():
    assert [normalise_sex(v) for v in ("f", " Female", "M", None, "", "x")] == ["F", "F", "M", "", "", "X"]
    fine = {"age": 66, "sex": "f", "bmi": 32, "womac_pain": 9}
    clean, problems = check_fields(fine)
    assert [p.params["field"] for p in missing_grade(clean, problems, None)] == ["kl_grade"]
    assert missing_grade(clean, problems, PROBS) == []
    clean, problems = check_fields({**fine, "bmi": 400})
    assert missing_grade(clean, problems, None) == []  # the BMI is what the form shows first


def test_a_grade_from_the_image_needs_no_typed_grade():
    inp = risk_input_from_fields({"age": 66, "sex": "f", "bmi": 32, "womac_pain": 9}, kl_probabilities=PROBS)
    assert inp.kl_grade == 3 and inp.kl_probabilities == PROBS and inp.sex == "F"
    with pytest.raises(InvalidClinicalInput):
        risk_input_from_fields({"age": 66, "sex": "F", "bmi": 32, "womac_pain": 9})
    with pytest.raises(InvalidClinicalInput):
        risk_input_from_fields({"age": 66, "sex": "F", "bmi": 32, "womac_pain": 9}, kl_probabilities=(0.5, 0.5))


def test_export_entry_point_uses_the_demo_models():
    r = predict_risk(PATIENT)
    assert len(r.models) == 2 and r.simulated
