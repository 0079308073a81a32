"""The summary as JSON, under a documented, versioned schema (docs/export_schema.md).

``schema_version`` follows semantic versioning: a reader that knows 1.x can read any 1.y
(new fields may appear; none change meaning or disappear without a major version).
The JSON Schema itself ships beside this module (``export_schema.json``).

Privacy: ``patient.identifiers`` is present only when the summary carries identifiers (the user
opted in); otherwise the patient is known by the pseudonym alone.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kneeai.grading.wording import grade_sentence
from kneeai.i18n import t
from kneeai.report.summary import final_grade, grade_source
from kneeai.schemas import RISK_HORIZONS_YEARS, PatientSummary

__all__ = ["SCHEMA_ID", "SCHEMA_VERSION", "SCHEMA_PATH", "to_dict", "to_json"]

SCHEMA_ID = "kneeai.summary"
SCHEMA_VERSION = "1.1"
SCHEMA_PATH = Path(__file__).with_name("export_schema.json")


def _risk(s: PatientSummary) -> dict[str, Any] | None:
    if s.risk is None:
        return None
    r = s.risk.inputs
    return {
        "simulated": s.risk.simulated,
        "inputs": {"age": r.age, "sex": r.sex, "bmi": r.bmi, "womac_pain": r.womac_pain, "kl_grade": r.kl_grade,
                   "kl_probabilities": list(r.kl_probabilities) if r.kl_probabilities is not None else None},
        "models": [
            {
                "name": m.model_name,
                "model_id": m.model_id,
                "sha256": m.sha256,
                "simulated": m.simulated,
                "horizons": [{"years": h, "risk": m.risk_at[h][0], "low": m.risk_at[h][1], "high": m.risk_at[h][2]}
                             for h in RISK_HORIZONS_YEARS if h in m.risk_at],
                "curve": {"years": list(m.times), "survival": list(m.survival), "survival_low": list(m.survival_low),
                          "survival_high": list(m.survival_high)},
            }
            for m in s.risk.models
        ],
    }


def to_dict(s: PatientSummary, *, generated_at: datetime | None = None) -> dict[str, Any]:
    """The export as plain data (see ``export_schema.json``)."""
    g = s.grade
    patient: dict[str, Any] = {"pseudonym": s.pseudonym}
    if s.identifiers:
        patient["identifiers"] = dict(s.identifiers)
    out: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_at": (generated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "language": s.language,
        "intended_use": t("app.intended_use", s.language),
        "patient": patient,
        "visit": {"date": s.visit_date, "laterality": s.laterality, "image_inverted": s.inverted},
        "grade": None,
        "override": ({"kl_grade": s.override_grade, "reason": s.override_reason, "model_grade": g.kl_grade if g else None}
                     if s.override_grade is not None else None),
        "explanation": ({"method": s.explanation.method, "target_grade": s.explanation.target_grade,
                         "regions": [{"region": r.region, "share": r.share, "area": r.area} for r in s.explanation.regions]}
                        if s.explanation is not None else None),
        "risk": _risk(s),
        "models": {
            "grader": ({"model_id": g.model.model_id, "sha256": g.model.sha256, "placeholder": g.model.placeholder} if g else None),
            "risk": [{"name": m.model_name, "model_id": m.model_id, "sha256": m.sha256, "simulated": m.simulated}
                     for m in (s.risk.models if s.risk else ())],
        },
    }
    if g is not None:
        out["grade"] = {
            "final_grade": final_grade(s),
            "source": grade_source(s),
            "model_grade": g.kl_grade,
            "probabilities": list(g.probabilities),
            "expected_grade": g.expected_grade,
            "entropy": g.entropy,
            "flip_disagreement": g.flip_disagreement,
            "outside_validated_use": g.outside_validated_use,
            "model_words": grade_sentence(g, s.language),
            "final_words": t(f"kl.{final_grade(s)}.plain", s.language),
        }
    return out


def to_json(s: PatientSummary, *, indent: int | None = 1) -> str:
    return json.dumps(to_dict(s), ensure_ascii=False, indent=indent, allow_nan=False)
