"""The audit trail: append-only, hash-chained events.

Every grading, override, export and deletion adds one row recording when, which model and
weights hash, the input's sha256, the output (JSON) and the user where one is known. Each row
stores the previous row's hash and ``hash = sha256(canonical_json(row) + prev_hash)``, so changing,
inserting or removing a row in the middle breaks the chain, and :func:`verify_chain` says where.

What the chain cannot see on its own is the *newest* rows being cut off; :func:`head` gives the
latest hash so a practice can note it elsewhere (``python -m kneeai db check`` prints it).
Rows carry no patient identity: subjects are registry ids ("visit:12"), inputs are hashes.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from kneeai.store.models import AuditEvent

__all__ = ["GENESIS", "ACTIONS", "append", "verify_chain", "head", "ChainReport", "canonical_json", "row_hash", "current_user"]

GENESIS = "0" * 64
ACTIONS = ("grade", "risk", "override", "export", "deletion", "patient", "restore")


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at,
        "action": event.action,
        "user": event.user,
        "subject": event.subject,
        "model_id": event.model_id,
        "weights_sha256": event.weights_sha256,
        "input_sha256": event.input_sha256,
        "output": event.output_json,
    }


def row_hash(event: AuditEvent) -> str:
    return hashlib.sha256((canonical_json(_fields(event)) + event.prev_hash).encode("utf-8")).hexdigest()


def current_user() -> str | None:
    """The operator's name where the deployment tells us (``KNEEAI_USER``); never a patient's."""
    return os.environ.get("KNEEAI_USER") or None


def append(session: Session, action: str, output: Any, *, subject: str | None = None, model_id: str | None = None,
           weights_sha256: str | None = None, input_sha256: str | None = None, user: str | None = None) -> AuditEvent:
    """Add one event inside the caller's write transaction (so it commits with what it records).

    The caller must hold the write lock (:func:`kneeai.store.db.write_session` does): ids are
    assigned here, one after another, and each hash needs the previous one.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    last = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    event = AuditEvent(
        id=(last.id + 1) if last else 1,
        at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        action=action,
        user=user if user is not None else current_user(),
        subject=subject,
        model_id=model_id,
        weights_sha256=weights_sha256,
        input_sha256=input_sha256,
        output_json=canonical_json(output),
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = row_hash(event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """``ok`` when every row links to the one before and hashes to what it stores.

    first_bad_id : the first row that fails, or None.
    problem : "hash" (row changed), "link" (row inserted/removed before it), "sequence" (gap in ids).
    """

    ok: bool
    n_events: int
    head: str
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session) -> ChainReport:
    prev, expected_id, n = GENESIS, 1, 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(500):
        n += 1
        if event.id != expected_id:
            return ChainReport(False, n, prev, event.id, "sequence")
        if event.prev_hash != prev:
            return ChainReport(False, n, prev, event.id, "link")
        if row_hash(event) != event.hash:
            return ChainReport(False, n, prev, event.id, "hash")
        prev, expected_id = event.hash, expected_id + 1
    return ChainReport(True, n, prev)


def head(session: Session) -> tuple[int, str]:
    """(number of events, latest hash)."""
    n = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return int(n), last or GENESIS
