"""AppTest: what each visitor sees, from the server's address, the [auth] secrets and st.user.

The sign-in itself (a real OpenID provider and a browser) is tests/e2e/test_browser_signin.py;
here ``at.user`` stands for the identity st.login would have put in the cookie.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Iterator

import pytest
import streamlit as st
import streamlit.config
from streamlit.testing.v1 import AppTest

from kneeai.i18n import t
from kneeai.store import registry
from kneeai.store.db import read_session
from kneeai.store.models import AuditEvent
from tests.app.test_patient_export_pages import _analysis
from tests.conftest import ROOT
from ui.navigation import PAGES

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length",
    "client_id": "kneeai",
    "client_secret": "s3cret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    "client_kwargs": {"scope": "openid profile email roles", "prompt": "login"},
}
CLINICIAN = {"is_logged_in": True, "sub": "dr.lee", "name": "Dr Lee", "roles": ["clinician"]}
DEMO = {"is_logged_in": True, "sub": "demo.visitor", "name": "Demo Visitor", "roles": ["demo"]}
NO_ROLE = {"is_logged_in": True, "sub": "no.role", "name": "No Role", "roles": []}
PATIENT_PAGES = ("views/patient.py", "views/export.py", "views/batch.py", "views/risk_refit.py")
DEMO_PAGES = ("views/grade.py", "views/explain.py", "views/risk.py", "views/risk_validation.py", "views/consult.py", "views/about.py")
EXAMPLE = ROOT / "examples" / "knees" / "kl3_9023348L.webp"


def _app(lang: str = "en", auth: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["lang"] = lang
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    return at


@contextlib.contextmanager
def _listening_on(address: str) -> Iterator[None]:
    """``server.address`` as if set in config.toml or on the command line, for this block."""
    before = streamlit.config.get_option("server.address")
    streamlit.config.set_option("server.address", address, where_defined="test")
    try:
        assert st.get_option("server.address") == address
        yield
    finally:
        streamlit.config.set_option("server.address", before, where_defined="test")


def _known_pages(at: AppTest) -> list[str]:
    """The pages st.navigation registered in the last run: a script's file name, or a callable page's title."""
    pages = at._registered_pages.values()  # AppTest's own record; switch_page() refuses any page not in it
    return [Path(str(p["script_path"])).name if p.get("script_path") else str(p.get("page_name")) for p in pages]


def _all_text(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [w.value for w in at.warning] + [m.value for m in at.markdown]
    parts += [c.value for c in at.caption] + [x.value for x in at.title] + [x.value for x in at.text]
    return "\n".join(str(p) for p in parts)


def test_the_default_is_a_single_workstation_on_loopback_with_every_page():
    assert (ROOT / ".streamlit" / "config.toml").read_text().count('address = "127.0.0.1"') == 1
    at = _app().run()
    assert not at.exception
    assert t("auth.workstation", "en") in _all_text(at)
    assert len(_known_pages(at)) == len(PAGES)
    at.switch_page("views/patient.py").run()
    assert not at.exception and not at.error
    assert at.button(key="patient_create")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20", ""])
def test_a_network_address_without_sign_in_closes_patient_pages_with_a_clear_message(lang, address):
    with _listening_on(address):
        at = _app(lang).run()
        assert not at.exception
        for page in PATIENT_PAGES:
            at.switch_page(page).run()
            assert not at.exception
            errors = [e.value for e in at.error]
            assert errors == [t("auth.refused_network", lang, address=address or "0.0.0.0")], page
            assert "patient_create" not in [b.key for b in at.button]
        # The example knees and the TKR demo stay open.
        at.switch_page("views/grade.py").run()
        assert not at.exception and not at.error and at.get("file_uploader")


def test_sign_in_configured_in_part_names_what_is_missing():
    partial = {k: v for k, v in AUTH.items() if k != "client_secret"}
    at = _app(auth=partial).run()
    at.switch_page("views/patient.py").run()
    assert [e.value for e in at.error] == [t("auth.refused_incomplete", "en", missing="client_secret")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_with_sign_in_configured_a_visitor_sees_only_the_sign_in_page(lang):
    at = _app(lang, AUTH, {"is_logged_in": False}).run()
    assert not at.exception
    assert [x.value for x in at.title] == [t("auth.sign_in_title", lang)]
    assert [b.label for b in at.button] == [t("auth.sign_in", lang)]
    assert _known_pages(at) == [t("auth.sign_in", lang)]


def test_a_signed_in_user_without_a_role_sees_no_patient_page():
    at = _app(auth=AUTH, user=NO_ROLE).run()
    assert not at.exception
    assert t("auth.no_role", "en", name="No Role") in _all_text(at)
    assert _known_pages(at) == [t("auth.sign_in", "en")]


def test_a_demo_user_gets_the_examples_and_the_tkr_demo_and_no_patient_page():
    at = _app(auth=AUTH, user=DEMO).run()
    assert not at.exception
    assert sorted(_known_pages(at)) == sorted(p.split("/")[-1] for p in DEMO_PAGES)
    assert "Demo Visitor · demo" in _all_text(at)
    at.switch_page("views/risk.py").run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_demo_user_may_not_grade_an_uploaded_film(lang):
    at = _app(lang, AUTH, DEMO).run()
    at.file_uploader(key="uploader").set_value((EXAMPLE.name, EXAMPLE.read_bytes(), "image/webp")).run()
    assert not at.exception
    assert [w.value for w in at.warning] == [t("auth.examples_only", lang)]
    assert "upload_bytes" not in at.session_state


def test_a_clinician_sees_the_patient_pages_but_not_more():
    at = _app(auth=AUTH, user=CLINICIAN).run()
    assert not at.exception
    assert sorted(_known_pages(at)) == sorted(Path(p).name for p, *_ in PAGES if p != "views/admin.py")
    at.switch_page("views/patient.py").run()
    assert not at.exception and not at.error and at.button(key="patient_create")


def test_a_role_given_in_the_registry_table_opens_the_pages_a_token_without_roles_does_not():
    from kneeai.store.users import set_user_roles

    set_user_roles("no.role", ["clinician"], user="admin.ann")
    at = _app(auth=AUTH, user=NO_ROLE).run()
    assert not at.exception
    assert "views/patient.py".split("/")[-1] in _known_pages(at) and "admin.py" not in _known_pages(at)
    set_user_roles("no.role", [], user="admin.ann")
    assert _known_pages(_app(auth=AUTH, user=NO_ROLE).run()) == [t("auth.sign_in", "en")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_grants_a_role_on_the_admin_page_and_the_audit_names_them(lang):
    from kneeai.store.users import roles_of, set_user_roles

    set_user_roles("ann", ["admin"], user="bootstrap")
    admin = {"is_logged_in": True, "sub": "ann", "name": "Ann Admin", "roles": []}
    at = _app(lang, AUTH, admin).run()
    assert "admin.py" in _known_pages(at)
    at.switch_page("views/admin.py").run()
    assert not at.exception
    at.text_input(key="admin_subject").set_value("dr.new")
    at.multiselect(key="admin_roles_pick").set_value(["clinician"])
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    assert roles_of("dr.new") == {"clinician"}
    assert t("cli.users.changed", lang, subject="dr.new", before="-", after="clinician") in [x.value for x in at.success]
    with read_session() as s:
        last = s.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
    assert (last.action, last.user, last.subject) == ("role_change", "ann", "user:dr.new")
    # The audit tab checks the chain and lists the change.
    assert t("cli.db.chain_ok", lang, n=2, head=last.hash[:16]) in [x.value for x in at.success]
    table = at.dataframe[1].value
    assert table.iloc[0].tolist()[:5] == [2, last.at, "role_change", "ann", "user:dr.new"]


def test_an_unknown_subject_is_refused_with_a_message_and_nothing_changes():
    at = _app().run()
    at.switch_page("views/admin.py").run()
    at.text_input(key="admin_subject").set_value("   ")
    at.multiselect(key="admin_roles_pick").set_value(["admin"])
    at.button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("error.user_subject", "en", max=128)]
    from kneeai.store.users import all_user_roles

    assert all_user_roles() == {}


def test_the_workstation_operator_backs_up_and_restores_from_the_admin_page():
    patient = registry.create_patient(user="op")
    at = _app().run()
    at.switch_page("views/admin.py").run()
    at.button(key="admin_backup").click().run()
    assert not at.exception and not at.error
    name, data = at.session_state["admin_backup_file"]
    assert name.startswith("kneeai-registry-") and data[:16] == b"SQLite format 3\x00"
    registry.delete_patient(patient.id, user="op")
    at.file_uploader(key="admin_restore_file").set_value((name, data, "application/octet-stream")).run()
    restore_button = at.button(key="admin_restore")
    assert restore_button.disabled  # not before the admin confirms
    at.checkbox(key="admin_restore_sure").check().run()
    at.button(key="admin_restore").click().run()
    assert not at.exception and not at.error
    assert registry.get_patient(patient.id).pseudonym == patient.pseudonym  # the deletion is undone
    with read_session() as s:
        events = list(s.query(AuditEvent).order_by(AuditEvent.id))
    # The registry is the backup's (made before its own "backup" event), plus the restore.
    assert [e.action for e in events] == ["patient", "restore"]
    assert json.loads(events[-1].output_json)["replaced_events"] == 3  # patient, backup, deletion


def test_a_clinicians_saved_visit_and_override_name_them_in_the_audit():
    at = _app(auth=AUTH, user=CLINICIAN).run()
    patient = registry.create_patient(user="dr.lee")
    at.session_state["patient_id"], at.session_state["patient_pseudonym"] = patient.id, patient.pseudonym
    _analysis(at, 2, 1)
    at.switch_page("views/patient.py").run()
    at.date_input(key="visit_date").set_value(dt.date(2024, 1, 10))
    at.button(key="visit_save").click().run()
    assert not at.exception
    at.switch_page("views/export.py").run()
    at.selectbox(key="export_override_grade").set_value(3)
    at.text_area(key="export_override_reason").set_value("osteophytes larger on the lateral view")
    at.button(key="export_override_apply").click().run()
    assert not at.exception
    with read_session() as s:
        events = [(e.action, e.user) for e in s.query(AuditEvent).order_by(AuditEvent.id)]
    saved = [e for e in events if e[0] in ("grade", "risk", "override")]
    assert {a for a, _ in saved} == {"grade", "risk", "override"}
    assert {u for _, u in saved} == {"dr.lee"}
    (visit,) = registry.visits_for(patient.id)
    assert visit.overrides[-1].user == "dr.lee"
