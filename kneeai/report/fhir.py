"""The summary as a FHIR R4 Bundle (collection): Patient, DiagnosticReport, Observation(s) for the
KL grade, and one RiskAssessment per TKR model. Validated with ``fhir.resources`` (its R4B
package: fhir.resources 8 defaults to R5, and R4B is wire-compatible with R4 for these resources).

Codes
-----
Standard codes where they exist:

* DiagnosticReport.code: LOINC 18748-4 "Diagnostic imaging study"; category v2-0074 RAD.
* Observation.category: observation-category "imaging"; bodySite SNOMED CT 49076000 "Knee joint
  structure" with laterality 7771000 "Left" / 24028007 "Right".
* RiskAssessment.prediction.outcome: SNOMED CT 609588000 "Total replacement of knee joint".
* Units: UCUM ("a" for years, "%" for percent).

No LOINC or SNOMED CT code names the Kellgren-Lawrence grade itself (national guides define
their own), so the grade and its values use KneeAI's local code system :data:`KL_SYSTEM`, stated
as such in ``docs/export_schema.md``.

Privacy: the Patient carries only the pseudonym unless the summary carries identifiers (opt-in).
"""
from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from typing import Any

from kneeai.grading.wording import grade_name
from kneeai.i18n import t
from kneeai.report.summary import final_grade
from kneeai.schemas import RISK_HORIZONS_YEARS, PatientSummary

__all__ = ["to_bundle", "to_json", "validate", "KL_SYSTEM", "OBSERVATION_SYSTEM", "PSEUDONYM_SYSTEM"]

KL_SYSTEM = "urn:kneeai:codesystem:kellgren-lawrence"
OBSERVATION_SYSTEM = "urn:kneeai:codesystem:observation"
PSEUDONYM_SYSTEM = "urn:kneeai:pseudonym"
IDENTIFIER_SYSTEM = "urn:kneeai:identifier:"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
_LATERALITY = {"L": ("7771000", "Left"), "R": ("24028007", "Right")}
_GENDER = {"F": "female", "M": "male", "O": "other"}


def _ref(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


def _kl_concept(grade: int, lang: str) -> dict[str, Any]:
    return {"coding": [{"system": KL_SYSTEM, "code": str(grade), "display": f"KL {grade} ({grade_name(grade, 'en')})"}],
            "text": t("grade.kl_label", lang, grade=grade) + " " + grade_name(grade, lang)}


def _body_site(laterality: str | None) -> dict[str, Any]:
    site: dict[str, Any] = {"coding": [{"system": SNOMED, "code": "49076000", "display": "Knee joint structure"}]}
    if laterality in _LATERALITY:
        code, display = _LATERALITY[laterality]
        site["coding"].append({"system": SNOMED, "code": code, "display": display})
    return site


def _kl_code() -> dict[str, Any]:
    return {"coding": [{"system": OBSERVATION_SYSTEM, "code": "kl-grade", "display": "Kellgren-Lawrence grade of knee radiograph"}],
            "text": "Kellgren-Lawrence grade"}


def _patient(s: PatientSummary) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "identifier": [{"system": PSEUDONYM_SYSTEM, "value": s.pseudonym}]}
    for kind, value in sorted(s.identifiers.items()):
        if kind == "PatientName":
            patient["name"] = [{"text": value.replace("^", " ").strip()}]
        elif kind == "PatientBirthDate" and len(value) == 8 and value.isdigit():
            patient["birthDate"] = f"{value[:4]}-{value[4:6]}-{value[6:]}"
        elif kind == "PatientSex" and value.upper() in _GENDER:
            patient["gender"] = _GENDER[value.upper()]
        else:
            patient["identifier"].append({"system": IDENTIFIER_SYSTEM + kind, "value": value})
    return patient


def to_bundle(s: PatientSummary, *, generated_at: datetime | None = None) -> dict[str, Any]:
    """The Bundle as a JSON-ready dict (validated: raises ``pydantic.ValidationError`` if not FHIR R4)."""
    now = (generated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    urls = {k: f"urn:uuid:{uuid.uuid4()}" for k in ("patient", "report", "model_obs", "override_obs")}
    entries: list[dict[str, Any]] = [{"fullUrl": urls["patient"], "resource": _patient(s)}]
    subject = _ref(urls["patient"])
    results: list[dict[str, str]] = []
    g = s.grade
    if g is not None:
        components = [
            {"code": {"coding": [{"system": OBSERVATION_SYSTEM, "code": f"kl-probability-{k}", "display": f"Probability of KL {k}"}]},
             "valueQuantity": {"value": round(100 * p, 2), "unit": "%", "system": UCUM, "code": "%"}}
            for k, p in enumerate(g.probabilities)
        ]
        model_obs: dict[str, Any] = {
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging"}]}],
            "code": _kl_code(), "subject": subject, "effectiveDateTime": s.visit_date, "issued": now,
            "valueCodeableConcept": _kl_concept(g.kl_grade, s.language), "bodySite": _body_site(s.laterality),
            "method": {"text": f"KneeAI automated grading, model {g.model.model_id} (sha256 {g.model.sha256[:16]})"
                               + (" - PLACEHOLDER, not trained" if g.model.placeholder else "")},
            "device": {"display": f"KneeAI {g.model.model_id}"},
            "component": components,
        }
        notes = [key for key, on in (("grade.outside_validated_use", g.outside_validated_use), ("report.inverted", s.inverted)) if on]
        if notes:
            model_obs["note"] = [{"text": t(key, s.language)} for key in notes]
        entries.append({"fullUrl": urls["model_obs"], "resource": model_obs})
        results.append(_ref(urls["model_obs"]))
        if s.override_grade is not None:
            entries.append({"fullUrl": urls["override_obs"], "resource": {
                "resourceType": "Observation", "status": "final",
                "category": model_obs["category"], "code": _kl_code(), "subject": subject, "effectiveDateTime": s.visit_date,
                "issued": now, "valueCodeableConcept": _kl_concept(s.override_grade, s.language), "bodySite": _body_site(s.laterality),
                "method": {"text": "Clinician reading (override of the automated grade)"},
                "derivedFrom": [_ref(urls["model_obs"])],
                "note": [{"text": f"Override reason: {s.override_reason}"}],
            }})
            results.append(_ref(urls["override_obs"]))
    in_force = urls["override_obs"] if s.override_grade is not None else urls["model_obs"]
    if s.risk is not None:
        for m in s.risk.models:
            predictions = []
            for h in RISK_HORIZONS_YEARS:
                if h not in m.risk_at or not math.isfinite(m.risk_at[h][0]):
                    continue
                point, low, high = m.risk_at[h]
                predictions.append({
                    "outcome": {"coding": [{"system": SNOMED, "code": "609588000", "display": "Total replacement of knee joint"}]},
                    "probabilityDecimal": round(float(point), 6),
                    "whenRange": {"low": {"value": 0, "unit": "a", "system": UCUM, "code": "a"},
                                  "high": {"value": h, "unit": "a", "system": UCUM, "code": "a"}},
                    "rationale": f"95% interval {low:.3f}-{high:.3f}",
                })
            risk: dict[str, Any] = {
                "resourceType": "RiskAssessment", "status": "final", "subject": subject, "occurrenceDateTime": s.visit_date,
                "method": {"text": f"{m.model_name} ({m.model_id}, sha256 {m.sha256[:16]})"},
                "basis": [_ref(in_force)] if g is not None else [], "prediction": predictions,
            }
            if not risk["basis"]:
                del risk["basis"]
            if m.simulated:
                risk["note"] = [{"text": t("report.simulated_notice", s.language)}]
            entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": risk})
    conclusion = t("report.no_grade", s.language).rstrip(".。")
    if g is not None:
        fg = final_grade(s)
        conclusion = f"KL {fg} ({grade_name(fg, s.language)})"
        if s.override_grade is not None:
            conclusion += f"; clinician override of automated KL {g.kl_grade}. Reason: {s.override_reason}"
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"}]}],
        "code": {"coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}],
                 "text": "Knee radiograph, Kellgren-Lawrence grading (KneeAI)"},
        "subject": subject, "effectiveDateTime": s.visit_date, "issued": now,
        "conclusion": conclusion + ". " + t("app.intended_use", s.language),
    }
    if results:
        report["result"] = results
    entries.insert(1, {"fullUrl": urls["report"], "resource": report})
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": now, "entry": entries}
    validate(bundle)
    return bundle


def validate(bundle: dict[str, Any]) -> None:
    """Raise if ``bundle`` is not a valid FHIR R4 Bundle (every resource is parsed by its model)."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)


def to_json(s: PatientSummary) -> str:
    import json

    return json.dumps(to_bundle(s), ensure_ascii=False, indent=1)
