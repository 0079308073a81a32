"""Admin: who has which role, the audit trail and its check, backup and restore.

Each section needs its own capability (an admin has them all; a single workstation's operator
is its admin). Every change made here is an audit event naming the signed-in admin.
"""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import streamlit as st

from kneeai.auth import Capability
from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.store import trail
from kneeai.store.users import ROLE_NAMES, all_user_roles, role_change_message, set_user_roles
from ui.auth import audit_user, current_access
from ui.state import lang
from ui.widgets import page_header, show_error, tr

AUDIT_ROWS = 200

page_header("nav.admin")
access = current_access()
language = lang()
sections = [(cap, key) for cap, key in ((Capability.USER_ROLES, "admin.roles"), (Capability.AUDIT_VIEW, "admin.audit"),
                                        (Capability.BACKUP, "admin.backup")) if access.can(cap)]
tabs = dict(zip((cap for cap, _ in sections), st.tabs([tr(key) for _, key in sections])))


def _roles_tab() -> None:
    st.caption(tr("admin.roles_help"))
    table = all_user_roles()
    if table:
        st.dataframe(pd.DataFrame([{tr("admin.subject"): s, tr("admin.role_list"): ", ".join(r)} for s, r in table.items()]),
                     hide_index=True, width="stretch")
    else:
        st.info(tr("cli.users.none"), icon=":material/group:")
    with st.form("admin_roles", clear_on_submit=False):
        c1, c2 = st.columns([2, 3])
        subject = c1.text_input(tr("admin.subject"), key="admin_subject", max_chars=128)
        roles = c2.multiselect(tr("admin.role_list"), ROLE_NAMES, default=list(table.get(subject.strip(), ())),
                               placeholder=tr("admin.pick_roles"), key="admin_roles_pick")
        st.caption(tr("list.separator").join(tr(f"role.{r}") for r in ROLE_NAMES))
        if st.form_submit_button(tr("admin.save_roles"), type="primary", icon=":material/save:"):
            try:
                before = set_user_roles(subject, roles, user=audit_user())
            except KneeAIError as exc:
                show_error(exc)
            else:
                st.success(role_change_message(subject, before, roles, language), icon=":material/check:")


def _audit_tab() -> None:
    report = trail.check_audit()
    if report.ok:
        st.success(t("cli.db.chain_ok", language, n=report.n_events, head=report.head[:16]), icon=":material/verified:")
    else:
        st.error(t("cli.db.chain_bad", language, id=report.first_bad_id,
                   problem=t(f"cli.db.problem.{report.problem}", language)), icon=":material/gpp_bad:")
    st.caption(tr("admin.audit_help", n=AUDIT_ROWS))
    events = trail.audit_events(AUDIT_ROWS)
    if events:
        frame = pd.DataFrame(events).fillna("—")
        st.dataframe(frame.rename(columns=lambda c: tr(f"admin.col.{c}")), hide_index=True, width="stretch")


def _backup_tab() -> None:
    st.caption(tr("admin.backup_help"))
    if st.button(tr("admin.make_backup"), icon=":material/backup:", key="admin_backup"):
        from kneeai.store.backup import backup

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / f"kneeai-registry-{stamp}.db"
            try:
                report = backup(dest, user=audit_user())
            except KneeAIError as exc:
                show_error(exc)
                return
            if not report.ok:
                st.error(t("cli.db.integrity_bad", language, detail="; ".join(report.integrity[:5])))
                return
            st.session_state["admin_backup_file"] = (dest.name, dest.read_bytes())
    made = st.session_state.get("admin_backup_file")
    if made:
        st.download_button(tr("admin.download_backup", name=made[0]), made[1], file_name=made[0],
                           mime="application/octet-stream", icon=":material/download:", key="admin_backup_dl")
    if not access.can(Capability.RESTORE):
        return
    st.markdown("#### " + tr("admin.restore"))
    st.warning(tr("admin.restore_warning"), icon=":material/warning:")
    upload = st.file_uploader(tr("admin.restore_file"), type=None, key="admin_restore_file")
    sure = st.checkbox(tr("admin.restore_confirm"), key="admin_restore_sure")
    if st.button(tr("admin.restore_button"), disabled=upload is None or not sure, icon=":material/settings_backup_restore:",
                 key="admin_restore"):
        from kneeai.store.backup import restore

        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / Path(upload.name).name
            src.write_bytes(upload.getvalue())
            try:
                report = restore(src, user=audit_user())
            except KneeAIError as exc:
                show_error(exc)
                return
        if report.ok:
            st.success(t("cli.db.restore_ok", language, path=upload.name, size=report.bytes), icon=":material/check:")
        else:
            st.error(t("cli.db.integrity_bad", language, detail="; ".join(report.integrity[:5])))


for cap, draw in ((Capability.USER_ROLES, _roles_tab), (Capability.AUDIT_VIEW, _audit_tab), (Capability.BACKUP, _backup_tab)):
    if cap in tabs:
        with tabs[cap]:
            try:
                draw()
            except KneeAIError as exc:
                show_error(exc)
