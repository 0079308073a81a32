"""The audit trail's records of what was done without saving a visit: gradings and exports.

Visits, overrides and patients note themselves in :mod:`kneeai.store.registry`; everything that
grades or hands data out without a visit (the CLI, a batch, an archive, the PACS, the Grade page)
notes it here, through :class:`kneeai.pipeline.Audit`. Each function is one transaction.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kneeai.schemas import GradeResult
from kneeai.store import audit
from kneeai.store.codec import grade_to_dict
from kneeai.store.db import read_session, write_session
from kneeai.store.models import AuditEvent

__all__ = ["audit_events", "check_audit", "record_export", "record_grading", "record_gradings"]


def record_export(fmt: str, data: bytes, *, subject: str | None = None, identifiers_included: bool = False,
                  user: str | None = None) -> None:
    """Note an export in the audit trail: its format, the sha256 of the bytes handed out, and
    whether identifiers were included (the content itself is not stored)."""
    import hashlib

    with write_session() as s:
        audit.append(s, "export", {"format": fmt, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                   "identifiers_included": bool(identifiers_included)}, subject=subject, user=user)


def record_grading(grade: GradeResult, input_sha256: str, *, subject: str | None = None, user: str | None = None) -> None:
    """Note one grading that is not saved as a visit: :func:`record_gradings` of one knee."""
    record_gradings([(grade, input_sha256)], subject=subject, user=user)


def record_gradings(gradings: list[tuple[GradeResult, str]], *, subject: str | None = None, user: str | None = None) -> None:
    """Note gradings that are not saved as visits (the CLI, a batch, an archive, the PACS, the Grade
    page), ``(grade, input sha256)`` each, in one transaction (one commit per file or batch, not per
    knee)."""
    if not gradings:
        return
    with write_session() as s:
        for grade, input_sha256 in gradings:
            audit.append(s, "grade", grade_to_dict(grade), subject=subject, model_id=grade.model.model_id,
                         weights_sha256=grade.model.sha256, input_sha256=input_sha256, user=user)


def audit_events(limit: int = 200) -> list[dict[str, Any]]:
    """The latest ``limit`` audit events, newest first: when, what, who, about whom (a pseudonymous
    reference such as ``patient:12``, never an identifier), and the start of the seal."""
    with read_session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, int(limit))))
        return [{"id": e.id, "at": e.at, "action": e.action, "user": e.user, "subject": e.subject,
                 "model_id": e.model_id, "seal": (e.hash or "")[:16]} for e in rows]


def check_audit() -> audit.ChainReport:
    """Verify the whole audit chain under the configured key (what ``db check`` prints)."""
    with read_session() as s:
        return audit.verify_chain(s)
