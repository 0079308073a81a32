"""The audit trail: append-only, chained events, each sealed with HMAC-SHA256 under a key kept
outside the database.

Every grading, override, export, deletion and admin action (backup, restore, role change) adds
one row recording when, which model and weights hash, the input's sha256, the output (JSON) and
the user where one is known. Each row stores the previous row's seal and
``hash = HMAC-SHA256(key, canonical_json(row incl. prev_hash))``, so changing, inserting or
removing a row in the middle breaks the chain, and :func:`verify_chain` says where. Without the
key nobody can recompute the seals: editing a row and "re-hashing" it (or the whole chain) with
plain SHA-256 is found too. See ``docs/audit.md`` for what this does and does not protect.

The key (:func:`audit_key`) comes from ``KNEEAI_AUDIT_KEY`` (the key itself, 32+ characters) or a
file: ``KNEEAI_AUDIT_KEY_FILE``, by default next to the SQLite registry (``kneeai.db.audit-key``)
or ``~/.kneeai/audit.key`` for PostgreSQL; it is created on first use with 0600 permissions, and a
file that others may read is refused.

Rows written before schema v3 are sealed with plain SHA-256 (``scheme`` NULL). They stay
verifiable as they are: the v3 migration appends a keyed ``chain_upgrade`` event whose seal covers
the old chain's head, so re-hashing old rows is found at that event. A plain row after a keyed one
is refused.

What the chain cannot see on its own is the *newest* rows being cut off; :func:`head` gives the
latest seal so a practice can note it elsewhere (``python -m kneeai db check`` prints it).
Rows carry no patient identity: subjects are registry ids ("visit:12"), inputs are hashes.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kneeai.config import database_url
from kneeai.errors import AuditKeyError
from kneeai.store.models import AuditEvent

__all__ = [
    "GENESIS", "ACTIONS", "ADMIN_ACTIONS", "SCHEME", "append", "verify_chain", "verify_rows", "head", "ChainReport",
    "canonical_json", "row_hash", "current_user", "audit_key", "audit_key_path", "key_id", "seal",
]

GENESIS = "0" * 64
SCHEME = "hmac-sha256"
ADMIN_ACTIONS = ("backup", "restore", "role_change")
ACTIONS = ("grade", "risk", "override", "export", "deletion", "patient", "chain_upgrade", *ADMIN_ACTIONS)
_MIN_KEY_CHARS = 32


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# -- the key -------------------------------------------------------------------------------------

def audit_key_path(url: str | None = None) -> Path:
    """Where the key file is (whether or not it exists yet)."""
    explicit = os.environ.get("KNEEAI_AUDIT_KEY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    u = make_url(url or database_url())
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        db = Path(u.database).expanduser()
        return db.with_name(db.name + ".audit-key")
    return Path.home() / ".kneeai" / "audit.key"


def _read_key_file(path: Path) -> bytes:
    info = path.stat()
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditKeyError("audit.error.key_permissions", path=str(path), mode=oct(info.st_mode & 0o777))
    key = path.read_bytes().strip()
    if len(key) < _MIN_KEY_CHARS:
        raise AuditKeyError("audit.error.key_short", path=str(path), n=_MIN_KEY_CHARS)
    return key


def _create_key_file(path: Path) -> None:
    """64 random hex digits, 0600, published atomically (a second process racing us reads ours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process got there first; then its key is the key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def audit_key(url: str | None = None, *, create: bool = True) -> bytes | None:
    """The HMAC key: ``KNEEAI_AUDIT_KEY`` if set, else the key file (created when ``create``).

    Returns None only when ``create`` is False and there is no key at all.
    Raises :class:`~kneeai.errors.AuditKeyError` for a short key or a key file others can read.
    """
    env = os.environ.get("KNEEAI_AUDIT_KEY")
    if env:
        if len(env.strip()) < _MIN_KEY_CHARS:
            raise AuditKeyError("audit.error.key_short", path="KNEEAI_AUDIT_KEY", n=_MIN_KEY_CHARS)
        return env.strip().encode("utf-8")
    path = audit_key_path(url)
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    return _read_key_file(path)


def key_id(key: bytes) -> str:
    """A public name for a key (16 hex digits), so a wrong key is told apart from tampering."""
    return hmac.new(key, b"kneeai audit key id", hashlib.sha256).hexdigest()[:16]


# -- sealing -------------------------------------------------------------------------------------

_FIELDS = ("id", "at", "action", "user", "subject", "model_id", "weights_sha256", "input_sha256", "output_json")


def _row(event: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(event, Mapping):
        return dict(event)
    return {k: getattr(event, k) for k in (*_FIELDS, "prev_hash", "hash", "scheme", "key_id")}


def _legacy_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: row[k] for k in _FIELDS}
    fields["output"] = fields.pop("output_json")
    return fields


def seal(row: Mapping[str, Any], key: bytes | None) -> str:
    """The seal a row should carry: HMAC-SHA256 for keyed rows, the pre-v3 plain SHA-256 otherwise."""
    fields = _legacy_fields(row)
    if row.get("scheme") is None:
        return hashlib.sha256((canonical_json(fields) + row["prev_hash"]).encode("utf-8")).hexdigest()
    if row["scheme"] != SCHEME:
        raise ValueError(f"unknown audit scheme {row['scheme']!r}")
    if key is None:
        raise AuditKeyError("audit.error.no_key", path=str(audit_key_path()))
    fields |= {"prev_hash": row["prev_hash"], "scheme": row["scheme"], "key_id": row.get("key_id")}
    return hmac.new(key, canonical_json(fields).encode("utf-8"), hashlib.sha256).hexdigest()


def row_hash(event: AuditEvent | Mapping[str, Any], key: bytes | None = None) -> str:
    """The seal ``event`` should carry (the current key unless one is given)."""
    row = _row(event)
    if row.get("scheme") is not None and key is None:
        key = audit_key()
    return seal(row, key)


def current_user() -> str | None:
    """The operator's name where the deployment tells us (``KNEEAI_USER``); never a patient's."""
    return os.environ.get("KNEEAI_USER") or None


def append(session: Session, action: str, output: Any, *, subject: str | None = None, model_id: str | None = None,
           weights_sha256: str | None = None, input_sha256: str | None = None, user: str | None = None) -> AuditEvent:
    """Add one event inside the caller's write transaction (so it commits with what it records).

    The caller must hold the write lock (:func:`kneeai.store.db.write_session` does): ids are
    assigned here, one after another, and each seal needs the previous one.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    key = audit_key()
    assert key is not None
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
        scheme=SCHEME,
        key_id=key_id(key),
    )
    event.hash = seal(_row(event), key)
    session.add(event)
    session.flush()
    return event


# -- checking ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainReport:
    """``ok`` when every row links to the one before and carries the seal it should.

    first_bad_id : the first row that fails, or None.
    problem : "hash" (row changed or re-sealed without the key), "link" (row inserted/removed
        before it), "sequence" (gap in ids), "scheme" (a plain SHA-256 row where only keyed rows
        may be), "key" (sealed under another key, or no key here to check it with).
    """

    ok: bool
    n_events: int
    head: str
    first_bad_id: int | None = None
    problem: str | None = None


def verify_rows(rows: Iterable[Mapping[str, Any]], key: bytes | None, *, require_keyed: bool = True) -> ChainReport:
    """Check rows in id order (dicts with the audit columns; ``scheme``/``key_id`` may be absent).

    ``require_keyed=False`` accepts a chain of plain SHA-256 rows only (a pre-v3 database).
    """
    prev, expected_id, n, keyed = GENESIS, 1, 0, False
    kid = key_id(key) if key is not None else None
    for row in rows:
        n += 1
        if row["id"] != expected_id:
            return ChainReport(False, n, prev, row["id"], "sequence")
        if row["prev_hash"] != prev:
            return ChainReport(False, n, prev, row["id"], "link")
        scheme = row.get("scheme")
        if scheme is None and keyed:
            return ChainReport(False, n, prev, row["id"], "scheme")
        if scheme is not None:
            keyed = True
            if key is None:
                return ChainReport(False, n, prev, row["id"], "key")
            if seal(row, key) != row["hash"]:
                # key_id is inside the seal; a foreign key_id means another key (or an edit of it).
                return ChainReport(False, n, prev, row["id"], "key" if row.get("key_id") != kid else "hash")
        if seal(row, key) != row["hash"]:
            return ChainReport(False, n, prev, row["id"], "hash")
        prev, expected_id = row["hash"], expected_id + 1
    if n and not keyed and require_keyed:
        # Since schema v3 every chain has a keyed row (new events, or the upgrade's anchor); one
        # with none has had its rows rewritten as plain SHA-256.
        return ChainReport(False, n, prev, 1, "scheme")
    return ChainReport(True, n, prev)


def verify_chain(session: Session, key: bytes | None = None) -> ChainReport:
    """Check the whole chain with ``key`` (default: the configured key, never created here)."""
    if key is None:
        key = audit_key(create=False)
    rows = ({"id": e.id, "at": e.at, "action": e.action, "user": e.user, "subject": e.subject, "model_id": e.model_id,
             "weights_sha256": e.weights_sha256, "input_sha256": e.input_sha256, "output_json": e.output_json,
             "prev_hash": e.prev_hash, "hash": e.hash, "scheme": e.scheme, "key_id": e.key_id}
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(500))
    return verify_rows(rows, key)


def head(session: Session) -> tuple[int, str]:
    """(number of events, latest seal)."""
    n = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return int(n), last or GENESIS
