"""The audit trail: append-only at the database level, and tampering is detected."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from kneeai.store import audit, registry, trail
from kneeai.store.backup import sqlite_path
from kneeai.store.db import read_session, write_session
from kneeai.store.models import AuditEvent
from tests.unit.fake_results import fake_grade, fake_risk


def _chain():
    with read_session() as s:
        return audit.verify_chain(s)


def _fill() -> int:
    p = registry.create_patient()
    vid = registry.save_visit(p.id, "2024-01-01", "L", "ee" * 32, None, fake_grade(2), fake_risk(2), (3, "clinician reading"))
    trail.record_export("pdf", b"%PDF-fake", subject=f"visit:{vid}")
    return vid


def test_events_record_model_input_output_and_user(monkeypatch):
    monkeypatch.setenv("KNEEAI_USER", "dr.who")
    _fill()
    with read_session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == ["patient", "grade", "risk", "override", "export"]
    grade = rows[1]
    assert grade.model_id == "kl-effnet-test" and grade.weights_sha256 == "ab" * 32 and grade.input_sha256 == "ee" * 32
    assert '"kl_grade":2' in grade.output_json and grade.user == "dr.who"
    assert rows[0].prev_hash == audit.GENESIS and all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
    assert _chain().ok and _chain().n_events == 5


def test_database_refuses_update_and_delete():
    _fill()
    with pytest.raises((IntegrityError, OperationalError)):
        with write_session() as s:
            s.execute(text("UPDATE audit_events SET output_json = '{}' WHERE id = 2"))
    with pytest.raises((IntegrityError, OperationalError)):
        with write_session() as s:
            s.execute(text("DELETE FROM audit_events WHERE id = 2"))
    assert _chain().ok


def _tamper(sql: str) -> None:
    """What someone with the file and a SQLite shell could do: drop the guard and edit."""
    con = sqlite3.connect(sqlite_path())
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("DROP TRIGGER audit_no_delete")
    con.execute(sql)
    con.commit()
    con.close()


@pytest.mark.parametrize(
    ("sql", "bad_id", "problem"),
    [
        ("UPDATE audit_events SET output_json = replace(output_json, '\"kl_grade\":2', '\"kl_grade\":0') WHERE id = 2", 2, "hash"),
        ("UPDATE audit_events SET user = 'someone else' WHERE id = 4", 4, "hash"),
        ("DELETE FROM audit_events WHERE id = 3", 4, "sequence"),
    ],
)
def test_tampering_is_detected(sql, bad_id, problem):
    _fill()
    _tamper(sql)
    report = _chain()
    assert not report.ok and report.first_bad_id == bad_id and report.problem == problem


def test_rehashing_one_row_still_breaks_the_link():
    _fill()
    with read_session() as s:
        row = s.get(AuditEvent, 2)
        row.output_json = '{"kl_grade":0}'
        new_hash = audit.row_hash(row)
        s.rollback()
    _tamper(f"UPDATE audit_events SET output_json = '{{\"kl_grade\":0}}', hash = '{new_hash}' WHERE id = 2")
    report = _chain()
    assert not report.ok and report.first_bad_id == 3 and report.problem == "link"
