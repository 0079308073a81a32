"""Which database a connection talks to, and the registry's write lock: a leaf that the engine
(:mod:`kneeai.store.db`) and the schema upgrades (:mod:`kneeai.store.migrations`) both use."""
from __future__ import annotations

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

__all__ = ["is_sqlite", "lock_for_write"]

# Any fixed 64-bit number; it names the registry's write lock on PostgreSQL.
_PG_WRITE_LOCK = 0x4B6E6565_41490001


def is_sqlite(engine_or_conn: Engine | Connection | Session) -> bool:
    bind = engine_or_conn.get_bind() if isinstance(engine_or_conn, Session) else engine_or_conn
    return bind.dialect.name == "sqlite"


def lock_for_write(conn: Connection | Session) -> None:
    """Serialise writers on PostgreSQL (SQLite already holds its write lock from BEGIN IMMEDIATE)."""
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
