"""Build the :class:`~kneeai.schemas.PatientSummary` that every export carries.

From pieces (:func:`build_summary`) or from a saved visit (:func:`summary_from_visit`); running
the stages on a film is :func:`kneeai.pipeline.summarize_film`'s job.

A clinician's override is the grade in force: it replaces the model's KL grade as the TKR
models' input (:func:`risk_with_override`), and every export marks it as an override while
keeping the model's grade beside it. Identifiers enter a summary only with ``include_identifiers``.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import numpy as np

from kneeai.schemas import Explanation, GradeResult, PatientSummary, RiskInput, RiskResult, grade_in_force

__all__ = [
    "build_summary",
    "summary_from_visit",
    "final_grade",
    "grade_source",
    "risk_input",
    "kl_in_force",
    "KL_SOURCES",
    "risk_with_override",
    "CLINICAL_FIELDS",
]

CLINICAL_FIELDS: tuple[str, ...] = ("age", "sex", "bmi", "womac_pain")


def final_grade(summary: PatientSummary) -> int | None:
    """The grade in force: the override where there is one, else the model's."""
    return grade_in_force(summary.grade.kl_grade if summary.grade else None, summary.override_grade)


def grade_source(summary: PatientSummary) -> str:
    """"override" or "model"."""
    return "override" if summary.override_grade is not None else "model"


def build_summary(
    *,
    pseudonym: str,
    visit_date: date | str | None = None,
    laterality: str | None = None,
    grade: GradeResult | None = None,
    explanation: Explanation | None = None,
    risk: RiskResult | None = None,
    crop_pixels: np.ndarray | None = None,
    override: tuple[int, str] | None = None,
    identifiers: dict[str, str] | None = None,
    include_identifiers: bool = False,
    lang: str = "en",
    inverted: bool = False,
) -> PatientSummary:
    """Assemble a summary. ``identifiers`` are dropped unless ``include_identifiers`` is set."""
    when = visit_date or date.today()
    return PatientSummary(
        pseudonym=pseudonym,
        visit_date=when.isoformat() if isinstance(when, date) else str(when),
        laterality=laterality,  # type: ignore[arg-type]
        grade=grade,
        override_grade=int(override[0]) if override else None,
        override_reason=str(override[1]) if override else None,
        explanation=explanation,
        risk=risk,
        crop_pixels=crop_pixels,
        identifiers=dict(identifiers or {}) if include_identifiers else {},
        language=lang,
        inverted=inverted,
    )


def summary_from_visit(visit: Any, *, include_identifiers: bool = False, lang: str = "en") -> PatientSummary:
    """A stored :class:`~kneeai.store.registry.VisitRecord` as a summary (heatmap included when stored)."""
    identifiers: dict[str, str] = {}
    if include_identifiers:
        from kneeai.store.registry import patient_identifiers

        identifiers = patient_identifiers(visit.patient_id)
    heat = visit.heatmap()
    explanation = Explanation(heat, "stored", visit.grade.kl_grade, ()) if heat is not None else None
    override = (visit.override.kl_grade, visit.override.reason) if visit.override else None
    return build_summary(pseudonym=visit.pseudonym, visit_date=visit.visit_date, laterality=visit.laterality, grade=visit.grade,
                         explanation=explanation, risk=visit.risk, crop_pixels=visit.crop_pixels(), override=override,
                         identifiers=identifiers, include_identifiers=include_identifiers, lang=lang,
                         inverted=visit.inverted)


KL_SOURCES = ("image", "typed")  # where a grade for the risk models may come from, besides an override


def kl_in_force(grade: GradeResult | None, override: tuple[int, str] | None = None, typed: Any = None,
                source: str = "image") -> tuple[int | None, tuple[float, ...] | None]:
    """``(kl_grade, kl_probabilities)`` for the risk models: a clinician's override is a definite
    grade; else the grade the user typed, when they chose ``source="typed"``; else the image
    grade's probabilities (the models mix them over KL 0-4). ``(None, None)`` when there is none."""
    if override:
        return int(override[0]), None
    if source == "typed":
        return (int(typed) if str(typed) in {str(k) for k in range(5)} else None), None
    return None, (tuple(grade.probabilities) if grade is not None else None)


def risk_input(clinical: dict[str, Any], grade: GradeResult, override: tuple[int, str] | None = None) -> RiskInput:
    """Clinical inputs plus the grade in force, checked by the risk stage's own rules.

    The model's probabilities are mixed in only when no clinician grade overrides them (an
    override is a definite grade). Raises :class:`~kneeai.errors.InvalidClinicalInput`.
    """
    from kneeai.survival.risk import risk_input_from_fields

    values = {k: clinical.get(k) for k in CLINICAL_FIELDS}  # the risk stage reads sex as typed
    kl, probabilities = kl_in_force(grade, override)
    return risk_input_from_fields({**values, "kl_grade": kl}, kl_probabilities=probabilities)


def _predict_risk(inputs: RiskInput) -> RiskResult:
    from kneeai.survival.risk import predict_risk

    return predict_risk(inputs)


def risk_with_override(risk: RiskResult | None, override: tuple[int, str] | None) -> RiskResult | None:
    """``risk`` recomputed with the override's grade as input, when it was computed otherwise."""
    if risk is None or override is None:
        return risk
    if risk.inputs.kl_grade == int(override[0]) and risk.inputs.kl_probabilities is None:
        return risk
    return _predict_risk(dataclasses.replace(risk.inputs, kl_grade=int(override[0]), kl_probabilities=None))
