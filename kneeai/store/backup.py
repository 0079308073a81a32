"""Consistent copies of the SQLite registry, and checks of its health.

:func:`backup` uses SQLite's online backup API: the copy is a consistent snapshot even while
other users keep saving (WAL readers do not block), unlike copying the file, which can catch a
half-written page or miss the WAL. Every copy is checked with ``PRAGMA integrity_check`` before
it is reported good. PostgreSQL deployments use ``pg_dump`` instead (see the README).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from kneeai.config import database_url
from kneeai.errors import KneeAIError

__all__ = ["BackupReport", "backup", "restore", "integrity_check", "sqlite_path"]


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


def backup(dest: Path | str, url: str | None = None) -> BackupReport:
    """Copy the live registry to ``dest`` (overwritten) and check the copy."""
    from kneeai.store.db import get_engine

    src = sqlite_path(url)
    get_engine(url)  # make sure the source exists and is at the current schema
    dest = Path(dest)
    if dest.resolve() == src.resolve():
        raise KneeAIError("error.backup_same_file")
    _copy(src, dest)
    return BackupReport(dest, dest.stat().st_size, integrity_check(dest))


def restore(src: Path | str, url: str | None = None) -> BackupReport:
    """Replace the live registry with the backup at ``src`` after checking the backup.

    Other users should be stopped first; open connections of this process are closed here.
    """
    from kneeai.store.db import dispose_engines

    src = Path(src)
    checked = integrity_check(src)
    if checked != ("ok",):
        return BackupReport(src, src.stat().st_size, checked)
    dest = sqlite_path(url)
    dispose_engines()
    # Backing up *into* the live file lets SQLite deal with its WAL and any other reader.
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(str(dest), timeout=30)
    try:
        source.backup(target, pages=-1)
    finally:
        target.close()
        source.close()
    return BackupReport(dest, dest.stat().st_size, integrity_check(dest))
