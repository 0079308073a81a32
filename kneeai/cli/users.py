"""``python -m kneeai users list|set|remove``: the roles table (what the Admin page edits).

- ``list``: every user the table names, with their roles.
- ``set SUBJECT ROLE [ROLE ...]``: give the user whose ID token's subject (``sub``) is SUBJECT
  exactly these roles (demo, clinician, admin). The first admin of a deployment whose identity
  provider sends no roles claim is made this way, on the server.
- ``remove SUBJECT``: take every role the table gave SUBJECT (a roles claim still applies).

Each change is an audit event naming ``KNEEAI_USER`` as the admin who made it (set it on a shared server).
"""
from __future__ import annotations

import argparse

from kneeai.i18n import t

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from kneeai.store.users import ROLE_NAMES

    p = sub.add_parser("users", help="who has which role (the registry's roles table)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    acts = p.add_subparsers(dest="users_action", required=True)
    acts.add_parser("list")
    s = acts.add_parser("set")
    s.add_argument("subject")
    s.add_argument("roles", nargs="+", choices=ROLE_NAMES)
    r = acts.add_parser("remove")
    r.add_argument("subject")
    return p


def run(args: argparse.Namespace) -> int:
    from kneeai.store.audit import current_user
    from kneeai.store.users import all_user_roles, role_change_message, set_user_roles

    lang = args.lang
    if args.users_action == "list":
        table = all_user_roles()
        if not table:
            print(t("cli.users.none", lang))
        for subject, roles in table.items():
            print(f"{subject}\t{', '.join(roles)}")
        return 0
    roles = args.roles if args.users_action == "set" else []
    before = set_user_roles(args.subject, roles, user=current_user())
    print(role_change_message(args.subject, before, roles, lang))
    return 0
