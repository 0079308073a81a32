"""The registry on PostgreSQL (``DATABASE_URL``), for a practice with several workstations.

Runs only where a server is given: ``KNEEAI_TEST_POSTGRES_URL=postgresql+psycopg://user@host:port/db``
(the database is emptied). Needs the ``psycopg`` driver, which only PostgreSQL deployments install.
"""
from __future__ import annotations

import os
import threading

import pytest

URL = os.environ.get("KNEEAI_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set KNEEAI_TEST_POSTGRES_URL to test against PostgreSQL")


@pytest.fixture()
def pg(monkeypatch):
    from sqlalchemy import create_engine, text

    from kneeai.store.db import dispose_engines

    dispose_engines()
    engine = create_engine(URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", URL)
    yield
    dispose_engines()


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
