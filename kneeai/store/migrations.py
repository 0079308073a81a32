"""A small versioned schema scheme: a ``schema_version`` table and ordered upgrade steps.

An upgraded app opens an old database: :func:`upgrade` reads the version, applies each step in
order inside one write transaction (DDL is transactional on SQLite and PostgreSQL, so a failed
upgrade leaves the old schema untouched), and records each version it reaches. A fresh database
is created at :data:`LATEST` directly. A database newer than this app is refused rather than
guessed at.

History
-------
1. First schema: patients, identifiers, visits, knee_images (sha256, crop_png), grade_results,
   risk_results, overrides, audit_events.
2. ``knee_images.mm_per_pixel`` (joint-space width needs the scale) and ``knee_images.heatmap_png``.

To change the schema: edit :mod:`kneeai.store.models`, append a step to :data:`STEPS`, raise
:data:`LATEST`, and add a hand-built old database to the tests.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, Float, LargeBinary, inspect, text

from kneeai.errors import SchemaTooNew
from kneeai.store.db import is_sqlite, lock_for_write
from kneeai.store.models import Base

__all__ = ["LATEST", "STEPS", "upgrade", "current_version"]

LATEST = 2


def _add_column(conn: Connection, table: str, column: str, type_) -> None:  # type: ignore[no-untyped-def]
    if column in {c["name"] for c in inspect(conn).get_columns(table)}:
        return
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {type_.compile(dialect=conn.dialect)}")


def _v1_to_v2(conn: Connection) -> None:
    _add_column(conn, "knee_images", "mm_per_pixel", Float())
    _add_column(conn, "knee_images", "heatmap_png", LargeBinary())


# STEPS[v] upgrades a database at version v to v + 1.
STEPS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}


def current_version(conn: Connection) -> int:
    """0 for an empty database; a database with our tables but no version table counts as 1."""
    tables = set(inspect(conn).get_table_names())
    if "schema_version" in tables:
        found = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
        if found is not None:
            return int(found)
    return 1 if "patients" in tables else 0


def _stamp(conn: Connection, version: int) -> None:
    conn.execute(text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
                 {"v": version, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def _append_only_guard(conn: Connection) -> None:
    """Refuse UPDATE and DELETE on the audit trail at the database level (the hash chain is what
    *detects* tampering; this stops accidents)."""
    if is_sqlite(conn):
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION kneeai_audit_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_append_only ON audit_events")
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION kneeai_audit_append_only()"
        )


def upgrade(engine: Engine) -> tuple[int, int]:
    """Bring the database to :data:`LATEST`; returns (version found, version now)."""
    with engine.connect().execution_options(kneeai_write=True) as conn, conn.begin():
        lock_for_write(conn)
        found = current_version(conn)
        if found > LATEST:
            raise SchemaTooNew(found=found, supported=LATEST)
        if found == 0:
            Base.metadata.create_all(conn)
            _stamp(conn, LATEST)
        else:
            if "schema_version" not in inspect(conn).get_table_names():
                Base.metadata.tables["schema_version"].create(conn)
                _stamp(conn, found)
            for version in range(found, LATEST):
                STEPS[version](conn)
                _stamp(conn, version + 1)
        _append_only_guard(conn)
    return found, LATEST
