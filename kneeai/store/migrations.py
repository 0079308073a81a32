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
3. ``audit_events.scheme`` and ``audit_events.key_id``: events are sealed with HMAC-SHA256 under a
   key kept outside the database. Existing plain-SHA-256 rows stay as they are; one keyed
   ``chain_upgrade`` event is appended whose seal covers the old chain's head and verdict, so
   re-hashing the old rows afterwards is found (:mod:`kneeai.store.audit`).

To change the schema: edit :mod:`kneeai.store.models`, append a step to :data:`STEPS`, raise
:data:`LATEST`, and add a hand-built old database to the tests.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Boolean, Connection, Engine, Float, LargeBinary, String, inspect, text

from kneeai.errors import SchemaTooNew
from kneeai.store.clock import now_iso
from kneeai.store.locking import is_sqlite, lock_for_write
from kneeai.store.models import Base

__all__ = ["LATEST", "STEPS", "upgrade", "current_version"]

LATEST = 5


def _add_column(conn: Connection, table: str, column: str, type_, default: str | None = None) -> None:  # type: ignore[no-untyped-def]
    if column in {c["name"] for c in inspect(conn).get_columns(table)}:
        return
    tail = f" DEFAULT {default}" if default is not None else ""
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {type_.compile(dialect=conn.dialect)}{tail}")


def _v1_to_v2(conn: Connection) -> None:
    _add_column(conn, "knee_images", "mm_per_pixel", Float())
    _add_column(conn, "knee_images", "heatmap_png", LargeBinary())


def _v2_to_v3(conn: Connection) -> None:
    from kneeai.store import audit

    _add_column(conn, "audit_events", "scheme", String(16))
    _add_column(conn, "audit_events", "key_id", String(16))
    cols = ("id", "at", "action", "user", "subject", "model_id", "weights_sha256", "input_sha256", "output_json",
            "prev_hash", "hash", "scheme", "key_id")
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in cols)
    rows = [dict(zip(cols, r)) for r in conn.execute(text(f"SELECT {quoted} FROM audit_events ORDER BY id"))]
    if not rows:
        return
    key = audit.audit_key(conn.engine.url.render_as_string(hide_password=False))
    assert key is not None
    legacy = audit.verify_rows(rows, key, require_keyed=False)
    last = rows[-1]
    anchor = {
        "id": last["id"] + 1, "at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "action": "chain_upgrade", "user": None, "subject": "audit", "model_id": None, "weights_sha256": None,
        "input_sha256": None,
        "output_json": audit.canonical_json({"from": "sha256", "to": audit.SCHEME, "events": len(rows), "head": last["hash"],
                                             "chain_ok": legacy.ok, "first_bad_id": legacy.first_bad_id}),
        "prev_hash": last["hash"], "scheme": audit.SCHEME, "key_id": audit.key_id(key),
    }
    anchor["hash"] = audit.seal(anchor, key)
    conn.execute(text(f"INSERT INTO audit_events ({quoted}) VALUES ({', '.join(':' + c for c in cols)})"), anchor)


def _v3_to_v4(conn: Connection) -> None:
    if "user_roles" not in inspect(conn).get_table_names():
        Base.metadata.tables["user_roles"].create(conn)


def _v4_to_v5(conn: Connection) -> None:
    # Visits saved before v5 were never turned back (the negative-image check came with v5).
    _add_column(conn, "knee_images", "inverted", Boolean(), default="FALSE")


# STEPS[v] upgrades a database at version v to v + 1.
STEPS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5}


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
                 {"v": version, "at": now_iso()})


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
