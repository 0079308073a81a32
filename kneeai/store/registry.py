"""Patients and their visits: the registry's public functions.

Patients are known by a generated pseudonym ("KN-7F3A2C"): random, never derived from a name or
an ID, so it reveals nothing. Identifying values are optional, stored apart
(:class:`kneeai.store.models.Identifier`) and returned only when a caller asks for them.

Every function runs in its own transaction and returns frozen records, never ORM objects, so
callers (pages, the CLI) cannot touch a session by accident.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from kneeai.errors import InvalidOverride, RecordNotFound
from kneeai.schemas import KL_GRADES, GradeResult, RiskResult, grade_in_force
from kneeai.store import audit
from kneeai.store.clock import now_iso
from kneeai.store.codec import (
    decode_png,
    grade_from_dict,
    grade_to_dict,
    model_risk_from_dict,
    model_risk_to_dict,
    risk_input_from_dict,
    risk_input_to_dict,
)
from kneeai.store.db import read_session, write_session
from kneeai.store.models import GradeRecord, Identifier, KneeImage, Override, Patient, RiskRecord, Visit

__all__ = [
    "OverrideRecord",
    "PatientRecord",
    "VisitRecord",
    "all_visits",
    "create_patient",
    "delete_patient",
    "delete_visit",
    "get_patient",
    "get_visit",
    "like_pattern",
    "list_patients",
    "new_pseudonym",
    "patient_identifiers",
    "save_visit",
    "search_patients",
    "set_override",
    "visits_for",
]

PSEUDONYM_PREFIX = "KN-"


@dataclass(frozen=True)
class PatientRecord:
    id: int
    pseudonym: str
    created_at: str
    n_visits: int = 0
    identifiers: dict[str, str] = field(default_factory=dict)  # empty unless asked for


@dataclass(frozen=True)
class OverrideRecord:
    kl_grade: int
    reason: str
    user: str | None
    created_at: str


@dataclass(frozen=True)
class VisitRecord:
    """One knee at one visit, as stored.

    grade : the model's grade, kept even when overridden.
    override : the clinician's grade in force (the latest), or None; ``overrides`` keeps them all.
    crop_png, heatmap_png : 8-bit PNG bytes (see :meth:`crop_pixels`, :meth:`heatmap`).
    """

    id: int
    patient_id: int
    pseudonym: str
    visit_date: date
    laterality: str | None
    created_at: str
    grade: GradeResult
    override: OverrideRecord | None
    overrides: tuple[OverrideRecord, ...]
    risk: RiskResult | None
    clinical: dict[str, Any] | None
    image_sha256: str
    crop_png: bytes | None
    mm_per_pixel: float | None
    heatmap_png: bytes | None
    inverted: bool = False

    @property
    def effective_grade(self) -> int:
        """The grade in force: the clinician's where there is one."""
        return grade_in_force(self.grade.kl_grade, self.override.kl_grade if self.override else None)

    def crop_pixels(self) -> np.ndarray | None:
        return decode_png(self.crop_png) if self.crop_png else None

    def heatmap(self) -> np.ndarray | None:
        return decode_png(self.heatmap_png) if self.heatmap_png else None


def new_pseudonym() -> str:
    """Six random hex digits (16.7 million values): unrelated to any identity by construction."""
    return PSEUDONYM_PREFIX + secrets.token_hex(3).upper()


def _patient(session: Session, patient_id: int) -> Patient:
    p = session.get(Patient, patient_id)
    if p is None:
        raise RecordNotFound(detail=f"patient {patient_id}")
    return p


def _patient_record(p: Patient, n_visits: int, with_identifiers: bool) -> PatientRecord:
    ids = {i.kind: i.value for i in p.identifiers} if with_identifiers else {}
    return PatientRecord(p.id, p.pseudonym, p.created_at, n_visits, ids)


def create_patient(identifiers: dict[str, str] | None = None, user: str | None = None) -> PatientRecord:
    """Create a patient under a fresh pseudonym; ``identifiers`` (optional) are stored apart."""
    with write_session() as s:
        taken = True
        while taken:
            pseudonym = new_pseudonym()
            taken = s.scalar(select(func.count()).select_from(Patient).where(Patient.pseudonym == pseudonym)) > 0
        p = Patient(pseudonym=pseudonym, created_at=now_iso())
        for kind, value in (identifiers or {}).items():
            if value:
                p.identifiers.append(Identifier(kind=kind, value=str(value)))
        s.add(p)
        s.flush()
        audit.append(s, "patient", {"created": True, "identifiers_stored": sorted(k for k, v in (identifiers or {}).items() if v)},
                     subject=f"patient:{p.id}", user=user)
        return PatientRecord(p.id, p.pseudonym, p.created_at, 0, {})


def _counts(s: Session) -> dict[int, int]:
    return dict(s.execute(select(Visit.patient_id, func.count()).group_by(Visit.patient_id)).all())  # type: ignore[arg-type]


def get_patient(patient_id: int, include_identifiers: bool = False) -> PatientRecord:
    with read_session() as s:
        p = _patient(s, patient_id)
        n = s.scalar(select(func.count()).select_from(Visit).where(Visit.patient_id == patient_id)) or 0
        return _patient_record(p, n, include_identifiers)


def list_patients(limit: int = 500) -> list[PatientRecord]:
    """Newest first, pseudonyms only."""
    with read_session() as s:
        counts = _counts(s)
        rows = s.scalars(select(Patient).order_by(Patient.id.desc()).limit(limit)).all()
        return [_patient_record(p, counts.get(p.id, 0), False) for p in rows]


def like_pattern(text: str, escape: str = "\\") -> str:
    """``%text%`` for LIKE with ``%``, ``_`` and the escape character itself taken literally."""
    for ch in (escape, "%", "_"):
        text = text.replace(ch, escape + ch)
    return f"%{text}%"


def search_patients(query: str, include_identifiers: bool = False, limit: int = 50) -> list[PatientRecord]:
    """Pseudonyms containing ``query`` (case-insensitive). Identifier values are searched only
    when ``include_identifiers`` is set (the user asked), and the records then carry them.

    ``%`` and ``_`` in ``query`` are matched literally (never as LIKE wildcards), so "50%" finds
    only values containing "50%" and "_" does not list every patient."""
    q = (query or "").strip()
    with read_session() as s:
        stmt = select(Patient).options(selectinload(Patient.identifiers)).order_by(Patient.id.desc()).limit(limit)
        if q:
            pattern = like_pattern(q)
            cond = Patient.pseudonym.ilike(pattern, escape="\\")
            if include_identifiers:
                cond = or_(cond, Patient.id.in_(select(Identifier.patient_id)
                                                .where(Identifier.value.ilike(pattern, escape="\\"))))
            stmt = stmt.where(cond)
        counts = _counts(s)
        return [_patient_record(p, counts.get(p.id, 0), include_identifiers) for p in s.scalars(stmt).all()]


def patient_identifiers(patient_id: int) -> dict[str, str]:
    """The stored identifying values; call only when the user has asked to see or export them."""
    with read_session() as s:
        return {i.kind: i.value for i in _patient(s, patient_id).identifiers}


def delete_patient(patient_id: int, user: str | None = None) -> None:
    """Delete a patient with all visits; the audit trail keeps that it happened."""
    with write_session() as s:
        p = _patient(s, patient_id)
        n = len(p.visits)
        s.delete(p)
        s.flush()
        audit.append(s, "deletion", {"patient": patient_id, "visits": n}, subject=f"patient:{patient_id}", user=user)


def _check_override(override: tuple[int, str] | None) -> tuple[int, str] | None:
    if override is None:
        return None
    grade, reason = override
    if grade not in KL_GRADES:
        raise InvalidOverride(detail=f"KL {grade}")
    if not (reason or "").strip():
        raise InvalidOverride(detail="reason")
    return int(grade), reason.strip()


def save_visit(
    patient_id: int,
    visit_date: date | str,
    laterality: str | None,
    image_sha256: str,
    crop_png: bytes | None,
    grade: GradeResult,
    risk: RiskResult | None = None,
    override: tuple[int, str] | None = None,
    clinical: dict[str, Any] | None = None,
    *,
    mm_per_pixel: float | None = None,
    heatmap_png: bytes | None = None,
    inverted: bool = False,
    user: str | None = None,
) -> int:
    """Save one knee's visit with its grade, risk and override in ONE transaction; returns the visit id.

    Parameters
    ----------
    patient_id : registry id (:func:`create_patient`).
    visit_date : ``datetime.date`` or ISO "YYYY-MM-DD".
    laterality : "L", "R" or None.
    image_sha256 : sha256 of the source file's bytes (the audit trail's input hash).
    crop_png : the graded crop as PNG (:func:`kneeai.store.codec.encode_png`), or None.
    grade : the model's :class:`~kneeai.schemas.GradeResult` (kept even when overridden).
    risk : the :class:`~kneeai.schemas.RiskResult` shown to the user, or None.
    override : (KL grade, reason) set by the clinician, or None. Raises :class:`InvalidOverride`
        for a grade outside 0-4 or an empty reason.
    clinical : the clinical inputs as entered (age, sex, bmi, womac_pain), or None.
    mm_per_pixel : the crop's scale when the film's pixel spacing is known (joint-space width).
    heatmap_png : the explanation heatmap as PNG, or None.
    inverted : the image was a negative, and ``crop_png`` is the crop turned back.
    user : the operator, where known (default ``KNEEAI_USER``).

    Either everything (visit, image, grade, risks, override and their audit events) is committed
    or nothing is: a crash half-way leaves the registry as it was.
    """
    override = _check_override(override)
    if laterality not in (None, "L", "R"):
        raise ValueError(f"laterality must be 'L', 'R' or None, not {laterality!r}")
    when = date.fromisoformat(visit_date) if isinstance(visit_date, str) else visit_date
    with write_session() as s:
        _patient(s, patient_id)
        v = Visit(patient_id=patient_id, visit_date=when, laterality=laterality, created_at=now_iso(), user=user or audit.current_user(),
                  clinical_json=json.dumps(clinical, ensure_ascii=False) if clinical else None)
        v.image = KneeImage(sha256=image_sha256, crop_png=crop_png, mm_per_pixel=mm_per_pixel, heatmap_png=heatmap_png,
                             inverted=inverted)
        g = grade_to_dict(grade)
        v.grade = GradeRecord(kl_grade=grade.kl_grade, probabilities_json=json.dumps(g["probabilities"]), expected_grade=grade.expected_grade,
                              entropy=grade.entropy, flip_disagreement=grade.flip_disagreement, model_id=grade.model.model_id,
                              model_sha256=grade.model.sha256, placeholder=grade.model.placeholder,
                              outside_validated_use=grade.outside_validated_use)
        if risk is not None:
            inputs = json.dumps(risk_input_to_dict(risk.inputs))
            for m in risk.models:
                v.risks.append(RiskRecord(model_name=m.model_name, model_id=m.model_id, model_sha256=m.sha256, simulated=m.simulated,
                                          inputs_json=inputs, risk_json=json.dumps(model_risk_to_dict(m))))
        if override is not None:
            v.overrides.append(Override(kl_grade=override[0], reason=override[1], user=user or audit.current_user(), created_at=now_iso()))
        s.add(v)
        s.flush()
        subject = f"visit:{v.id}"
        audit.append(s, "grade", g, subject=subject, model_id=grade.model.model_id, weights_sha256=grade.model.sha256,
                     input_sha256=image_sha256, user=user)
        if risk is not None:
            audit.append(s, "risk", {"inputs": risk_input_to_dict(risk.inputs),
                                     "risk_at": {m.model_name: {repr(h): list(r) for h, r in m.risk_at.items()} for m in risk.models}},
                         subject=subject, model_id=",".join(m.model_id for m in risk.models),
                         weights_sha256=",".join(m.sha256 for m in risk.models), input_sha256=image_sha256, user=user)
        if override is not None:
            audit.append(s, "override", {"kl_grade": override[0], "reason": override[1], "model_grade": grade.kl_grade},
                         subject=subject, model_id=grade.model.model_id, weights_sha256=grade.model.sha256, input_sha256=image_sha256, user=user)
        return v.id


def set_override(visit_id: int, kl_grade: int, reason: str, user: str | None = None) -> None:
    """Record a clinician's grade for a saved visit; earlier overrides and the model grade stay."""
    grade, reason = _check_override((kl_grade, reason))  # type: ignore[misc]
    with write_session() as s:
        v = s.get(Visit, visit_id)
        if v is None:
            raise RecordNotFound(detail=f"visit {visit_id}")
        s.add(Override(visit_id=visit_id, kl_grade=grade, reason=reason, user=user or audit.current_user(), created_at=now_iso()))
        audit.append(s, "override", {"kl_grade": grade, "reason": reason, "model_grade": v.grade.kl_grade if v.grade else None},
                     subject=f"visit:{visit_id}", model_id=v.grade.model_id if v.grade else None,
                     weights_sha256=v.grade.model_sha256 if v.grade else None, input_sha256=v.image.sha256 if v.image else None, user=user)


def _visit_record(v: Visit, pseudonym: str) -> VisitRecord:
    g = v.grade
    assert g is not None, "a visit is always saved with its grade"
    grade = grade_from_dict({
        "kl_grade": g.kl_grade, "probabilities": json.loads(g.probabilities_json), "expected_grade": g.expected_grade,
        "entropy": g.entropy, "flip_disagreement": g.flip_disagreement,
        "model": {"model_id": g.model_id, "sha256": g.model_sha256, "placeholder": g.placeholder},
        "outside_validated_use": g.outside_validated_use,
    })
    risk = None
    if v.risks:
        risk = RiskResult(inputs=risk_input_from_dict(json.loads(v.risks[0].inputs_json)),
                          models=tuple(model_risk_from_dict(json.loads(r.risk_json)) for r in v.risks))
    overrides = tuple(OverrideRecord(o.kl_grade, o.reason, o.user, o.created_at) for o in v.overrides)
    img = v.image
    return VisitRecord(
        id=v.id, patient_id=v.patient_id, pseudonym=pseudonym, visit_date=v.visit_date, laterality=v.laterality,
        created_at=v.created_at, grade=grade, override=overrides[-1] if overrides else None, overrides=overrides, risk=risk,
        clinical=json.loads(v.clinical_json) if v.clinical_json else None, image_sha256=img.sha256 if img else "",
        crop_png=img.crop_png if img else None, mm_per_pixel=img.mm_per_pixel if img else None,
        heatmap_png=img.heatmap_png if img else None, inverted=bool(img.inverted) if img else False,
    )


_VISIT_LOAD = (selectinload(Visit.image), selectinload(Visit.grade), selectinload(Visit.risks), selectinload(Visit.overrides),
               selectinload(Visit.patient))


def visits_for(patient_id: int) -> list[VisitRecord]:
    """A patient's visits, oldest first (then in the order they were saved)."""
    with read_session() as s:
        p = _patient(s, patient_id)
        rows = s.scalars(select(Visit).where(Visit.patient_id == patient_id).options(*_VISIT_LOAD)
                         .order_by(Visit.visit_date, Visit.id)).all()
        return [_visit_record(v, p.pseudonym) for v in rows]


def get_visit(visit_id: int) -> VisitRecord:
    with read_session() as s:
        v = s.scalars(select(Visit).where(Visit.id == visit_id).options(*_VISIT_LOAD)).first()
        if v is None:
            raise RecordNotFound(detail=f"visit {visit_id}")
        return _visit_record(v, v.patient.pseudonym)


def all_visits(limit: int = 100_000) -> list[VisitRecord]:
    """Every visit of every patient (the cohort CSV)."""
    with read_session() as s:
        rows = s.scalars(select(Visit).options(*_VISIT_LOAD).order_by(Visit.patient_id, Visit.visit_date, Visit.id).limit(limit)).all()
        return [_visit_record(v, v.patient.pseudonym) for v in rows]


def delete_visit(visit_id: int, user: str | None = None) -> None:
    with write_session() as s:
        v = s.get(Visit, visit_id)
        if v is None:
            raise RecordNotFound(detail=f"visit {visit_id}")
        sha = v.image.sha256 if v.image else None
        s.delete(v)
        s.flush()
        audit.append(s, "deletion", {"visit": visit_id}, subject=f"visit:{visit_id}", input_sha256=sha, user=user)
