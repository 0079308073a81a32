"""Consistent copies of the SQLite registry, and checks of its health.

:func:`backup` uses SQLite's online backup API: the copy is a consistent snapshot even while
other users keep saving (WAL readers do not block), unlike copying the file, which can catch a
half-written page or miss the WAL. Every copy is checked with ``PRAGMA integrity_check`` before
it is reported good. On PostgreSQL :func:`backup` runs ``pg_dump`` (custom format, for
``pg_restore``); restoring a PostgreSQL dump stays with ``pg_restore`` (see the README).

Both are audit events: a backup records the copy's sha256 and the chain head it holds; a restore
first checks the backup's own audit chain (a tampered backup is refused), then records, in the
restored registry, which backup it was and the head of the chain it replaced, so rolling the
registry back never goes unrecorded.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from kneeai.config import database_url
from kneeai.errors import KneeAIError, RestoreRefused
from kneeai.manifest import sha256_file as file_sha256

__all__ = ["BackupReport", "backup", "restore", "integrity_check", "sqlite_path", "backup_chain"]


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    integrity: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.integrity == ("ok",)


def sqlite_path(url: str | None = None) -> Path:
    """The registry's file; raises for a non-SQLite ``DATABASE_URL``."""
    u = make_url(url or database_url())
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        raise KneeAIError("error.backup_sqlite_only")
    return Path(u.database).expanduser()


def integrity_check(path: Path | str | None = None) -> tuple[str, ...]:
    """``("ok",)`` for a healthy file, otherwise SQLite's list of problems."""
    target = Path(path) if path is not None else sqlite_path()
    if not target.exists():
        raise KneeAIError("error.record_not_found", detail=str(target.name))
    con = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=30)
    try:
        return tuple(str(r[0]) for r in con.execute("PRAGMA integrity_check").fetchall())
    except sqlite3.DatabaseError as exc:
        return (str(exc),)
    finally:
        con.close()


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(str(src), timeout=30)
    target = sqlite3.connect(str(tmp))
    try:
        # pages=-1 copies in one step, so the snapshot is of one moment.
        source.backup(target, pages=-1)
        # A backup is one self-contained file: no WAL beside it.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    tmp.replace(dest)


def backup_chain(path: Path | str) -> Any:
    """Verify the audit chain inside a SQLite backup file (read-only; any schema version)."""
    from kneeai.store import audit

    con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(audit_events)")]
        if not cols:
            return audit.ChainReport(True, 0, audit.GENESIS)
        con.row_factory = sqlite3.Row
        rows = (dict(r) for r in con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM audit_events ORDER BY id"))
        return audit.verify_rows(rows, audit.audit_key(create=False), require_keyed="scheme" in cols)
    finally:
        con.close()


def _record(action: str, output: dict[str, Any], url: str | None, user: str | None) -> None:
    from kneeai.store import audit
    from kneeai.store.db import write_session

    with write_session(url) as s:
        audit.append(s, action, output, subject="registry", user=user)


def _live_head(url: str | None) -> tuple[int, str]:
    from kneeai.store import audit
    from kneeai.store.db import read_session

    with read_session(url) as s:
        return audit.head(s)


def _pg_dump(dest: Path, url: str) -> BackupReport:
    u = make_url(url)
    exe = shutil.which("pg_dump")
    if exe is None:
        raise KneeAIError("error.pg_dump_missing")
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    args = [exe, "--format=custom", "--no-owner", f"--file={dest}", f"--dbname={u.database}"]
    args += [f"--host={u.host}"] if u.host else []
    args += [f"--port={u.port}"] if u.port else []
    args += [f"--username={u.username}"] if u.username else []
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return BackupReport(dest, dest.stat().st_size if dest.exists() else 0, (done.stderr.strip()[-500:] or "pg_dump failed",))
    return BackupReport(dest, dest.stat().st_size, ("ok",))


def backup(dest: Path | str, url: str | None = None, *, user: str | None = None) -> BackupReport:
    """Copy the live registry to ``dest`` (overwritten), check the copy, and record it in the audit.

    SQLite: the backup API, then ``PRAGMA integrity_check`` of the copy. PostgreSQL: ``pg_dump
    --format=custom`` (restore it with ``pg_restore``).
    """
    from kneeai.store.db import get_engine

    url = url or database_url()
    engine = get_engine(url)  # make sure the source exists and is at the current schema
    dest = Path(dest)
    if engine.dialect.name == "postgresql":
        n, head = _live_head(url)
        report = _pg_dump(dest, url)
    else:
        src = sqlite_path(url)
        if dest.resolve() == src.resolve():
            raise KneeAIError("error.backup_same_file")
        _copy(src, dest)
        report = BackupReport(dest, dest.stat().st_size, integrity_check(dest))
        copied = backup_chain(dest)
        n, head = copied.n_events, copied.head
    if dest.exists():
        _record("backup", {"file": dest.name, "bytes": report.bytes, "sha256": file_sha256(dest), "ok": report.ok,
                           "events": n, "head": head}, url, user)
    return report


def restore(src: Path | str, url: str | None = None, *, user: str | None = None) -> BackupReport:
    """Replace the live registry with the backup at ``src`` after checking the backup.

    The backup must pass SQLite's integrity check and its own audit chain must verify under this
    registry's key (:class:`~kneeai.errors.RestoreRefused` otherwise).
    The restored registry then gets a ``restore`` event naming the backup (its sha256 and chain
    head) and the head of the chain it replaced.

    Other users should be stopped first; open connections of this process are closed here.
    """
    from kneeai.store.db import dispose_engines

    src = Path(src)
    checked = integrity_check(src)
    if checked != ("ok",):
        return BackupReport(src, src.stat().st_size, checked)
    chain = backup_chain(src)
    if not chain.ok:
        raise RestoreRefused(id=chain.first_bad_id, problem=chain.problem)
    dest = sqlite_path(url)
    replaced = _live_head(url) if dest.exists() else (0, "")
    dispose_engines()
    # Backing up *into* the live file lets SQLite deal with its WAL and any other reader.
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(str(dest), timeout=30)
    try:
        source.backup(target, pages=-1)
    finally:
        target.close()
        source.close()
    _record("restore", {"file": src.name, "sha256": file_sha256(src), "backup_events": chain.n_events, "backup_head": chain.head,
                        "replaced_events": replaced[0], "replaced_head": replaced[1]}, url, user)
    return BackupReport(dest, dest.stat().st_size, integrity_check(dest))
