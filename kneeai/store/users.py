"""The roles table: which KneeAI roles an admin gave each signed-in user.

A user's roles are those of their ID token's claim plus those here (:mod:`kneeai.auth.access`),
so a hospital whose identity provider cannot send a roles claim still assigns roles, from the
Admin page or ``python -m kneeai users``. Users are named by their ID-token subject (``sub``),
which is stable, not by a display name, which is not. Every change is an audit event, with the
roles before and after, in the same transaction as the change.
"""
from __future__ import annotations

from sqlalchemy import delete, select

from kneeai.auth.roles import Role
from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.store import audit
from kneeai.store.clock import now_iso
from kneeai.store.db import read_session, write_session
from kneeai.store.models import UserRole

__all__ = ["ROLE_NAMES", "MAX_SUBJECT", "roles_of", "all_user_roles", "set_user_roles", "role_change_message"]

ROLE_NAMES = tuple(r.value for r in Role)
MAX_SUBJECT = 128


def _clean_subject(subject: str) -> str:
    s = (subject or "").strip()
    if not s or len(s) > MAX_SUBJECT or any(ord(c) < 32 for c in s):
        raise KneeAIError("error.user_subject", max=MAX_SUBJECT)
    return s


def roles_of(subject: str | None, url: str | None = None) -> frozenset[str]:
    """The roles the table gives ``subject`` (none for an unknown or missing subject)."""
    if not subject:
        return frozenset()
    with read_session(url) as s:
        return frozenset(s.scalars(select(UserRole.role).where(UserRole.subject == subject)))


def all_user_roles(url: str | None = None) -> dict[str, tuple[str, ...]]:
    """Every user the table names -> their roles, sorted."""
    out: dict[str, list[str]] = {}
    with read_session(url) as s:
        for row in s.scalars(select(UserRole).order_by(UserRole.subject, UserRole.role)):
            out.setdefault(row.subject, []).append(row.role)
    return {k: tuple(v) for k, v in out.items()}


def set_user_roles(subject: str, roles, *, user: str | None = None, url: str | None = None) -> tuple[str, ...]:
    """Give ``subject`` exactly ``roles`` (none removes the user from the table); ``user`` is the
    admin doing it. Returns the roles before. An unknown role name is refused, not dropped."""
    subject = _clean_subject(subject)
    wanted = sorted({str(r).strip().lower() for r in roles})
    unknown = [r for r in wanted if r not in ROLE_NAMES]
    if unknown:
        raise KneeAIError("error.unknown_role", role=", ".join(unknown), known=", ".join(ROLE_NAMES))
    now = now_iso()
    with write_session(url) as s:
        before = tuple(sorted(s.scalars(select(UserRole.role).where(UserRole.subject == subject))))
        if list(before) == wanted:
            return before
        s.execute(delete(UserRole).where(UserRole.subject == subject))
        s.add_all(UserRole(subject=subject, role=r, granted_by=user, granted_at=now) for r in wanted)
        audit.append(s, "role_change", {"user": subject, "roles": wanted, "previous": list(before)},
                     subject=f"user:{subject}"[:64], user=user)
    return before


def role_change_message(subject: str, before, roles, lang: str) -> str:
    """What the Admin page and ``python -m kneeai users`` say after :func:`set_user_roles`."""
    after = sorted({str(r).strip().lower() for r in roles})
    return t("cli.users.changed", lang, subject=subject.strip(), before=", ".join(before) or "-", after=", ".join(after) or "-")
