"""Engine and sessions for the registry.

SQLite (the default, a file at ``KNEEAI_DB``) runs in WAL mode with ``synchronous=FULL`` and
foreign keys on, so a committed visit survives a killed process or a power cut, and readers
never block the writer. ``DATABASE_URL`` points the registry at PostgreSQL instead; it is read at
call time (:func:`kneeai.config.database_url`), so tests and deployments can switch it.

Writes are serialised: on SQLite a write transaction starts with ``BEGIN IMMEDIATE`` (it waits
up to ``BUSY_TIMEOUT_S`` for another writer instead of failing half-way), on PostgreSQL it takes
a transaction-scoped advisory lock. The audit chain needs this: each event hashes the one before.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kneeai.config import database_url
from kneeai.store.locking import is_sqlite, lock_for_write

__all__ = ["get_engine", "write_session", "read_session", "lock_for_write", "is_sqlite", "dispose_engines", "BUSY_TIMEOUT_S"]

# Long enough for a backup or another workstation's save to finish; short enough that a stuck
# writer is reported instead of hanging the page.
BUSY_TIMEOUT_S = 30

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # The driver's own transaction handling would start transactions lazily and DEFERRED;
        # we emit BEGIN ourselves (below) so that writers queue up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail at once with SQLITE_BUSY in WAL mode
        # (its snapshot is stale); IMMEDIATE takes the write lock first, honouring busy_timeout.
        write = conn.get_execution_options().get("kneeai_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: :func:`kneeai.config.database_url` now), migrated to the latest schema."""
    from kneeai.store.migrations import upgrade

    url = url or database_url()
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _sqlite_engine(url) if url.startswith("sqlite") else create_engine(url, pool_pre_ping=True)
            upgrade(engine)
            _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and before replacing a database file)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


@contextmanager
def write_session(url: str | None = None) -> Iterator[Session]:
    """One write transaction: everything inside commits together or not at all."""
    engine = get_engine(url).execution_options(kneeai_write=True)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        lock_for_write(session)
        yield session


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A read snapshot; closing it rolls the transaction back (objects keep what they loaded)."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        yield session
