"""The per-patient TKR risk panel: RiskInput in, RiskResult out.

For each survival model it gives the curve S(t) with its 95% interval (bootstrap members), the
cumulative risk 1 - S(t) at :data:`~kneeai.schemas.RISK_HORIZONS_YEARS`, and each input's
contribution to the log hazard relative to the model's reference patient (exact Shapley values
over the five inputs; for the linear Cox model they reduce to ``beta * (x - x_ref)``).

When :attr:`RiskInput.kl_probabilities` is set the KL grade is not a point value: the curve is
the mixture ``S(t) = sum_k p_k S(t | KL = k)`` (the same for every bootstrap member), so the image
model's uncertainty about the grade flows into the risk and its interval.

What-if (:func:`what_if`) recomputes the panel with BMI and/or WOMAC pain changed and words the
change. It is an association inside a model fitted on a simulated cohort, not the effect of
treating the patient.
"""
from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from kneeai.config import SETTINGS
from kneeai.errors import InvalidClinicalInput
from kneeai.i18n import catalog, t
from kneeai.schemas import KL_GRADES, RISK_HORIZONS_YEARS, ModelRisk, RiskInput, RiskResult
from kneeai.survival.ensemble import SurvivalModel, interval

__all__ = [
    "INPUT_FIELDS",
    "COLUMN_OF",
    "CURVE_TIMES",
    "check_fields",
    "missing_grade",
    "normalise_sex",
    "risk_input_from_fields",
    "validate_input",
    "assess",
    "predict_risk",
    "model_risk",
    "contributions",
    "what_if",
    "what_if_sentences",
    "reference_text",
    "model_label",
    "format_risk",
]

# The panel's inputs, in display order, and the cohort column each one feeds.
INPUT_FIELDS: tuple[str, ...] = ("age", "sex", "bmi", "womac_pain", "kl_grade")
COLUMN_OF: dict[str, str] = {"age": "age", "sex": "sex", "bmi": "bmi", "womac_pain": "womac_pain", "kl_grade": "kl"}
# The curve is drawn every 0.1 year over the 9-year follow-up the models were fitted on.
CURVE_TIMES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(91))


def _number(name: str, value: Any) -> tuple[float | None, InvalidClinicalInput | None]:
    rng = SETTINGS.clinical[name]
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, InvalidClinicalInput("error.missing_clinical", field=name)
    try:
        x = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None, InvalidClinicalInput("risk.err.not_a_number", field=name, value=value)
    if math.isnan(x):
        return None, InvalidClinicalInput("error.missing_clinical", field=name)
    if not rng.low <= x <= rng.high:
        return None, InvalidClinicalInput(field=name, value=f"{x:g}", low=f"{rng.low:g}", high=f"{rng.high:g}", unit=rng.unit)
    return x, None


def normalise_sex(value: Any) -> str:
    """What was typed or stored for sex as "F", "M", another letter (refused by
    :func:`check_fields`), or "" when empty: "f", " Female" and "M" all read as typed."""
    return str(value or "").strip().upper()[:1]


def check_fields(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[InvalidClinicalInput]]:
    """Parse the typed inputs; return the clean values and every problem (not just the first).

    ``values`` maps :data:`INPUT_FIELDS` to what the user typed (numbers or strings, possibly
    empty). ``kl_grade`` may be None when a grade comes from the image instead.
    """
    clean: dict[str, Any] = {}
    problems: list[InvalidClinicalInput] = []
    for name in ("age", "bmi", "womac_pain"):
        x, err = _number(name, values.get(name))
        if err:
            problems.append(err)
        else:
            clean[name] = x
    sex = normalise_sex(values.get("sex"))
    if not sex:
        problems.append(InvalidClinicalInput("error.missing_clinical", field="sex"))
    elif sex not in ("F", "M"):
        problems.append(InvalidClinicalInput("error.invalid_sex", value=values.get("sex")))
    else:
        clean["sex"] = sex
    grade = values.get("kl_grade")
    if grade is not None and str(grade).strip() != "":
        try:
            g = int(float(grade))
        except (TypeError, ValueError):
            g = -1
        if g not in KL_GRADES:
            problems.append(InvalidClinicalInput("risk.err.kl_grade", value=grade))
        else:
            clean["kl_grade"] = g
    return clean, problems


def missing_grade(clean: Mapping[str, Any], problems: Sequence[InvalidClinicalInput],
                  kl_probabilities: Sequence[float] | None) -> list[InvalidClinicalInput]:
    """The problem to add when the inputs are otherwise fine but no KL grade came from anywhere
    (neither typed nor the image's probabilities): asked for last, so the form shows it alone."""
    if kl_probabilities is None and "kl_grade" not in clean and not problems:
        return [InvalidClinicalInput("error.missing_clinical", field="kl_grade")]
    return []


def risk_input_from_fields(values: Mapping[str, Any], kl_probabilities: Sequence[float] | None = None) -> RiskInput:
    """A checked :class:`RiskInput`; raises the first :class:`InvalidClinicalInput` found.

    With ``kl_probabilities`` (the image model's five grade probabilities) the grade is mixed over
    them and ``kl_grade`` is their argmax unless a typed grade is given.
    """
    clean, problems = check_fields(values)
    problems += missing_grade(clean, problems, kl_probabilities)
    if problems:
        raise problems[0]
    probs = None
    if kl_probabilities is not None:
        probs = tuple(float(p) for p in kl_probabilities)
    grade = clean.get("kl_grade", int(np.argmax(probs)) if probs else 0)
    inp = RiskInput(age=clean["age"], sex=clean["sex"], bmi=clean["bmi"], womac_pain=clean["womac_pain"], kl_grade=grade,
                    kl_probabilities=probs)
    validate_input(inp)
    return inp


def validate_input(inp: RiskInput) -> None:
    """Refuse a RiskInput outside the accepted ranges (it may come from anywhere, not only the form)."""
    for name in ("age", "bmi", "womac_pain"):
        _, err = _number(name, getattr(inp, name))
        if err:
            raise err
    if inp.sex not in ("F", "M"):
        raise InvalidClinicalInput("error.invalid_sex", value=inp.sex)
    if inp.kl_grade not in KL_GRADES:
        raise InvalidClinicalInput("risk.err.kl_grade", value=inp.kl_grade)
    if inp.kl_probabilities is not None:
        p = np.asarray(inp.kl_probabilities, dtype=float)
        if p.shape != (len(KL_GRADES),) or not np.all(np.isfinite(p)) or (p < 0).any() or abs(p.sum() - 1) > 1e-3:
            raise InvalidClinicalInput("risk.err.kl_probabilities")


def _rows(inp: RiskInput, model: SurvivalModel) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows a model sees for this patient and their mixing weights: 5 rows (one per KL) with the
    grade probabilities, or the typed grade alone with weight 1."""
    base = {COLUMN_OF[f]: getattr(inp, f) for f in INPUT_FIELDS}
    if inp.kl_probabilities is None:
        return pd.DataFrame([base])[list(model.features)], np.ones(1)
    p = np.asarray(inp.kl_probabilities, dtype=float)
    rows = pd.DataFrame([{**base, "kl": k} for k in KL_GRADES])[list(model.features)]
    return rows, p / p.sum()


def contributions(inp: RiskInput, model: SurvivalModel) -> dict[str, float]:
    """Exact Shapley values of the point model's log hazard, relative to the model's reference row.

    The value of a coalition S of inputs is the (KL-mixed) log hazard of the patient with the
    inputs outside S set to the reference. Values sum to the patient's log hazard minus the
    reference's; positive pushes the risk up.
    """
    names = [f for f in INPUT_FIELDS if COLUMN_OF[f] in model.features]
    patient_rows, weights = _rows(inp, model)
    # Encode the patient and the reference once, then build every coalition by swapping design
    # columns: a few hundred rows through pandas each time would dominate the panel's latency.
    xp = model.encoder.transform(patient_rows)
    xr = model.encoder.transform(pd.DataFrame([{c: model.encoder.reference[c] for c in model.features}]))[0]
    slices = model.encoder.feature_slices()
    n = len(names)
    coalitions = [frozenset(c) for r in range(n + 1) for c in combinations(names, r)]
    blocks = []
    for s in coalitions:
        x = xp.copy()
        for f in names:
            if f not in s:
                x[:, slices[COLUMN_OF[f]]] = xr[slices[COLUMN_OF[f]]]
        blocks.append(x)
    lh = model.point.predict(np.vstack(blocks)).reshape(len(coalitions), len(weights))
    value = dict(zip(coalitions, lh @ weights))
    out = {}
    for f in names:
        phi = 0.0
        for s in coalitions:
            if f in s:
                continue
            w = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
            phi += w * (value[s | {f}] - value[s])
        out[f] = float(phi)
    return out


def model_risk(inp: RiskInput, model: SurvivalModel, times: Sequence[float] = CURVE_TIMES) -> ModelRisk:
    """One model's curve, interval, horizon risks and contributions for this patient."""
    grid = np.unique(np.concatenate([np.asarray(times, dtype=float), np.asarray(RISK_HORIZONS_YEARS, dtype=float)]))
    grid = grid[grid <= model.max_time + 1e-9]
    rows, w = _rows(inp, model)
    point, members = model.survival_from_design(model.encoder.transform(rows), grid)
    s_point = w @ point
    s_members = np.einsum("k,mkt->mt", w, members)
    low, high = interval(s_point, s_members)
    at = {float(g): i for i, g in enumerate(grid)}
    idx = [at[float(x)] for x in times if float(x) in at]
    risk_at = {float(h): (float(1 - s_point[at[float(h)]]), float(1 - high[at[float(h)]]), float(1 - low[at[float(h)]]))
               for h in RISK_HORIZONS_YEARS if float(h) in at}
    return ModelRisk(model_name=model.name, model_id=model.model_id, sha256=model.sha256,
                     times=tuple(float(grid[i]) for i in idx), survival=tuple(float(s_point[i]) for i in idx),
                     survival_low=tuple(float(low[i]) for i in idx), survival_high=tuple(float(high[i]) for i in idx),
                     risk_at=risk_at, contributions=contributions(inp, model), simulated=model.simulated)


def assess(inp: RiskInput, models: Sequence[SurvivalModel] | None = None) -> RiskResult:
    """The full panel for one patient; ``models`` defaults to the shipped demo models (Cox, DeepSurv)."""
    from kneeai.survival.demo import load_demo_models

    validate_input(inp)
    models = load_demo_models() if models is None else models
    return RiskResult(inputs=inp, models=tuple(model_risk(inp, m) for m in models))


def predict_risk(inp: RiskInput) -> RiskResult:
    """The demo models' panel for one patient (the name the export pipeline calls)."""
    return assess(inp)


def what_if(inp: RiskInput, bmi: float | None = None, womac_pain: float | None = None) -> RiskInput:
    """The same patient with BMI and/or WOMAC pain changed (validated like any input)."""
    changed = replace(inp, bmi=inp.bmi if bmi is None else float(bmi),
                      womac_pain=inp.womac_pain if womac_pain is None else float(womac_pain))
    validate_input(changed)
    return changed


def format_risk(p: float) -> str:
    """A risk as a percentage a reader can take in at a glance: 0.4%, 13%, <0.1%."""
    pct = 100 * p
    if pct < 0.1:
        return "<0.1%"
    return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"


def what_if_sentences(base: RiskResult, changed: RiskResult, lang: str, horizon: float = 5.0) -> list[str]:
    """One sentence per model: "Cox: 5-year risk 18% → 13% if BMI were 27 (simulated cohort)"."""
    parts = []
    if changed.inputs.bmi != base.inputs.bmi:
        parts.append(t("risk.whatif.bmi_were", lang, value=f"{changed.inputs.bmi:g}"))
    if changed.inputs.womac_pain != base.inputs.womac_pain:
        parts.append(t("risk.whatif.pain_were", lang, value=f"{changed.inputs.womac_pain:g}"))
    if not parts:
        return []
    condition = t("risk.whatif.and", lang).join(parts)
    out = []
    for b, c in zip(base.models, changed.models):
        if horizon not in b.risk_at or horizon not in c.risk_at:
            continue
        key = "risk.whatif.sentence_simulated" if b.simulated else "risk.whatif.sentence"
        out.append(t(key, lang, model=model_label(b.model_name, lang), years=f"{horizon:g}", before=format_risk(b.risk_at[horizon][0]), after=format_risk(c.risk_at[horizon][0]),
                     condition=condition))
    return out


def model_label(name: str, lang: str) -> str:
    """A model's display name ("Cox PH", "DeepSurv", ...), or its own name when the catalogs have none."""
    key = f"risk.model.{name}"
    return t(key, lang) if key in catalog("en") else name


def reference_text(model: SurvivalModel, lang: str) -> str:
    """The reference patient the contributions are measured against, in words."""
    ref = model.encoder.reference
    sex = t("risk.sex.female", lang) if str(ref.get("sex")) == "F" else t("risk.sex.male", lang)
    return t("risk.reference_patient", lang, age=f"{float(ref['age']):g}", sex=sex, bmi=f"{float(ref['bmi']):g}",
             pain=f"{float(ref['womac_pain']):g}", kl=ref["kl"])
