"""``python -m kneeai db backup PATH | check | restore PATH``: look after the registry.

``check`` runs SQLite's integrity check and verifies the audit trail's chain of HMAC-SHA256 seals
under the audit key (``KNEEAI_AUDIT_KEY`` or the key file, see :mod:`kneeai.store.audit`); it exits
1 when either fails (an edited, deleted or re-hashed audit row is a failure) and prints the
chain's head, which a practice can note elsewhere to detect the newest rows being cut off later.
``backup`` and ``restore`` are themselves audit events; ``backup`` runs ``pg_dump`` on PostgreSQL.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from kneeai.i18n import t

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("db", help="back up, check or restore the patient registry", description=__doc__)
    actions = p.add_subparsers(dest="db_action", required=True)
    b = actions.add_parser("backup", help="consistent copy of the registry (SQLite backup API) + integrity check")
    b.add_argument("path", type=Path)
    actions.add_parser("check", help="integrity check + audit-chain (HMAC) verification; exit 1 on any problem")
    r = actions.add_parser("restore", help="replace the registry with a checked backup (stop other users first)")
    r.add_argument("path", type=Path)
    return p


def _check(lang: str) -> int:
    from kneeai.store import audit
    from kneeai.store.backup import integrity_check, sqlite_path
    from kneeai.store.db import get_engine, is_sqlite, read_session

    ok = True
    if is_sqlite(get_engine()):
        problems = integrity_check(sqlite_path())
        good = problems == ("ok",)
        ok &= good
        print(t("cli.db.integrity_ok" if good else "cli.db.integrity_bad", lang, detail="; ".join(problems[:5])))
    with read_session() as s:
        report = audit.verify_chain(s)
    if report.ok:
        print(t("cli.db.chain_ok", lang, n=report.n_events, head=report.head))
    else:
        ok = False
        print(t("cli.db.chain_bad", lang, id=report.first_bad_id, problem=t(f"cli.db.problem.{report.problem}", lang)))
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    from kneeai.store.backup import backup, restore

    lang = args.lang
    if args.db_action == "check":
        return _check(lang)
    from kneeai.store.audit import current_user

    user = current_user()
    report = backup(args.path, user=user) if args.db_action == "backup" else restore(args.path, user=user)
    if report.ok:
        print(t("cli.db.backup_ok" if args.db_action == "backup" else "cli.db.restore_ok", lang, path=str(report.path), size=report.bytes))
        return 0
    print(t("cli.db.integrity_bad", lang, detail="; ".join(report.integrity[:5])))
    return 1
