"""The registry on PostgreSQL (``DATABASE_URL``), for a practice with several workstations.

Runs where a server is given: ``KNEEAI_TEST_POSTGRES_URL=postgresql+psycopg://user@host:port/db``
(the database is emptied; the role must be able to create databases and drop triggers).
``scripts/test.sh`` starts one on loopback (``scripts/services/postgres.sh``), so in CI these tests
always run; skipped only when nobody gave a server.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

URL = os.environ.get("KNEEAI_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set KNEEAI_TEST_POSTGRES_URL to test against PostgreSQL")
ROOT = Path(__file__).resolve().parents[2]


def _fresh(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture()
def pg(monkeypatch, tmp_path):
    from kneeai.store.db import dispose_engines

    dispose_engines()
    _fresh(URL)
    monkeypatch.setenv("DATABASE_URL", URL)
    # The audit key of a PostgreSQL registry defaults to ~/.kneeai/audit.key; keep tests off it.
    monkeypatch.setenv("KNEEAI_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    yield URL
    dispose_engines()


def _chain():
    from kneeai.store import audit
    from kneeai.store.db import read_session

    with read_session() as s:
        return audit.verify_chain(s)


def test_registry_audit_and_concurrency_on_postgres(pg):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from kneeai.store import audit, registry
    from kneeai.store.db import read_session, write_session
    from tests.unit.fake_results import fake_grade, fake_risk

    p = registry.create_patient({"PatientID": "PG-1"})
    vid = registry.save_visit(p.id, "2024-01-01", "L", "ab" * 32, b"png", fake_grade(2), fake_risk(2), (3, "reason"), {"age": 60})
    v = registry.get_visit(vid)
    assert v.effective_grade == 3 and v.risk == fake_risk(2) and v.crop_png == b"png"
    errors: list[BaseException] = []

    def work(tag: str) -> None:
        try:
            for i in range(5):
                registry.save_visit(p.id, "2024-02-02", "R", "%s%062x" % (tag, i), None, fake_grade(i % 5), fake_risk(1))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tag,)) for tag in ("c1", "d2", "e3")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and len(registry.visits_for(p.id)) == 16
    with read_session() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.n_events == 1 + 3 + 15 * 2
    with pytest.raises(DBAPIError):
        with write_session() as s:
            s.execute(text("UPDATE audit_events SET output_json = '{}' WHERE id = 2"))


_WRITER = """
import sys
from kneeai.store import registry
from tests.unit.fake_results import fake_grade
pid, tag = int(sys.argv[1]), sys.argv[2]
for i in range(25):
    registry.save_visit(pid, "2024-03-03", "L", "%s%062x" % (tag, i), None, fake_grade(i % 5))
"""


def test_two_writer_processes_keep_one_unbroken_chain(pg):
    """Two separate programs (as two workstations would be) save at once: every visit lands and
    the audit chain has no fork, gap or duplicate id."""
    from sqlalchemy import func, select

    from kneeai.store import registry
    from kneeai.store.db import read_session
    from kneeai.store.models import AuditEvent

    p = registry.create_patient()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(p.id), tag], cwd=ROOT, env=dict(os.environ))
             for tag in ("a1", "b2")]
    assert [proc.wait(timeout=240) for proc in procs] == [0, 0]
    assert len(registry.visits_for(p.id)) == 50
    report = _chain()
    assert report.ok and report.n_events == 51
    with read_session() as s:
        inputs = s.scalars(select(AuditEvent.input_sha256).where(AuditEvent.action == "grade")).all()
        assert s.scalar(select(func.count(func.distinct(AuditEvent.prev_hash)))) == 51
    assert {i[:2] for i in inputs} == {"a1", "b2"}


def test_writers_wait_for_the_advisory_lock(pg):
    """While one transaction holds the registry's advisory lock, another writer waits; it goes on
    once the lock is released, and its audit event follows the holder's."""
    from sqlalchemy import text

    from kneeai.store import audit, registry
    from kneeai.store.db import write_session
    from kneeai.store.locking import _PG_WRITE_LOCK

    p = registry.create_patient()
    started, done = threading.Event(), threading.Event()
    holding = write_session()
    s = holding.__enter__()
    try:
        held = s.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar()
        assert held == 1

        def writer() -> None:
            started.set()
            registry.delete_patient(p.id)
            done.set()

        th = threading.Thread(target=writer)
        th.start()
        started.wait(10)
        time.sleep(1.0)
        assert not done.is_set()  # blocked on the lock
        waiting = s.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                 "AND objid = :lo"), {"lo": _PG_WRITE_LOCK & 0xFFFFFFFF}).scalar()
        assert waiting == 1
        audit.append(s, "export", {"format": "pdf"}, subject="held")
    finally:
        holding.__exit__(None, None, None)
    th.join(30)
    assert done.is_set()
    report = _chain()
    assert report.ok and report.n_events == 3


def test_triggers_refuse_edits_and_db_check_finds_what_a_superuser_changes(pg, capsys):
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from kneeai.__main__ import main
    from kneeai.store import registry
    from kneeai.store.db import write_session
    from tests.unit.fake_results import fake_grade

    p = registry.create_patient()
    registry.save_visit(p.id, "2024-01-01", "L", "ab" * 32, None, fake_grade(2), None, (3, "reason"))
    for sql in ("UPDATE audit_events SET user = 'x' WHERE id = 2", "DELETE FROM audit_events WHERE id = 2",
                "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with write_session() as s:
                s.execute(text(sql.replace("user", '"user"')))
    assert main(["db", "check"]) == 0
    assert "3 events, hash chain intact" in capsys.readouterr().out
    engine = create_engine(URL)  # the owner can drop the trigger; the HMAC still tells
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_append_only ON audit_events"))
        conn.execute(text("""UPDATE audit_events SET output_json = replace(output_json, 'reason', 'other') WHERE id = 3"""))
    engine.dispose()
    assert main(["db", "check"]) == 1
    assert "event 3 fails (its content no longer matches its hash)" in capsys.readouterr().out


def test_an_older_schema_upgrades_in_place(pg):
    """A schema-v1 registry on PostgreSQL (no scale/heatmap columns, plain SHA-256 audit rows)."""
    from sqlalchemy import create_engine, text

    from kneeai.store import audit, registry
    from kneeai.store.db import dispose_engines
    from kneeai.store.migrations import LATEST
    from kneeai.store.models import AuditEvent, Base
    from tests.unit.fake_results import fake_grade

    engine = create_engine(URL)
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        for table, column in (("knee_images", "mm_per_pixel"), ("knee_images", "heatmap_png"), ("audit_events", "scheme"),
                              ("audit_events", "key_id")):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00+00:00')"))
        conn.execute(text("INSERT INTO patients (id, pseudonym, created_at) VALUES (1, 'KN-0A1B2C', '2025-01-01')"))
        event = AuditEvent(id=1, at="2025-01-02T09:00:00+00:00", action="patient", user=None, subject="patient:1", model_id=None,
                           weights_sha256=None, input_sha256=None, output_json='{"created":true}', prev_hash=audit.GENESIS)
        conn.execute(text('INSERT INTO audit_events (id, at, action, "user", subject, output_json, prev_hash, hash) '
                          "VALUES (1, :at, 'patient', NULL, 'patient:1', :out, :prev, :hash)"),
                     {"at": event.at, "out": event.output_json, "prev": audit.GENESIS, "hash": audit.row_hash(event)})
    engine.dispose()
    dispose_engines()
    vid = registry.save_visit(1, "2026-01-02", "R", "8" * 64, None, fake_grade(4), mm_per_pixel=0.25)
    assert registry.get_visit(vid).mm_per_pixel == 0.25
    engine = create_engine(URL)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
        actions = conn.execute(text("SELECT action, scheme FROM audit_events ORDER BY id")).all()
        triggers = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
    engine.dispose()
    assert versions == list(range(1, LATEST + 1)) and triggers == ["audit_append_only"]
    assert [tuple(a) for a in actions] == [("patient", None), ("chain_upgrade", audit.SCHEME), ("grade", audit.SCHEME)]
    assert _chain().ok


def test_backup_with_pg_dump_restores_with_its_chain_and_triggers(pg, tmp_path, capsys):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from kneeai.__main__ import main
    from kneeai.store import audit, registry
    from kneeai.store.db import dispose_engines, read_session
    from tests.unit.fake_results import fake_grade, fake_risk

    p = registry.create_patient({"PatientName": "Chen^Mei"})
    registry.save_visit(p.id, "2024-01-01", "L", "ab" * 32, b"png", fake_grade(2), fake_risk(2), (3, "reason"))
    dump = tmp_path / "registry.dump"
    assert main(["db", "backup", str(dump)]) == 0
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    with read_session() as s:
        assert audit.verify_chain(s).ok and audit.head(s)[0] == 5  # 4 + the backup, itself an event
    # Restore it the documented way into another database and check it there.
    u = make_url(URL)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS kneeai_restore"))
        conn.execute(text("CREATE DATABASE kneeai_restore"))
    args = ["pg_restore", "--no-owner", "--exit-on-error", "--dbname=kneeai_restore", f"--host={u.host}", f"--port={u.port}",
            f"--username={u.username}", str(dump)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    restored = u.set(database="kneeai_restore").render_as_string(hide_password=False)
    dispose_engines()
    try:
        with read_session(restored) as s:
            report = audit.verify_chain(s)
        assert report.ok and report.n_events == 4  # taken before its own backup event
        v = registry.visits_for(p.id)  # the live one still answers
        assert len(v) == 1
        engine = create_engine(restored)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_append_only'")).scalar() == 1
            assert conn.execute(text("SELECT value FROM identifiers")).scalar() == "Chen^Mei"
        engine.dispose()
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS kneeai_restore"))
        admin.dispose()
