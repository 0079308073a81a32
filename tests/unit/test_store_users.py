"""The roles table: an admin gives a signed-in user roles, by subject; every change is audited."""
from __future__ import annotations

import json

import pytest

from kneeai.__main__ import main
from kneeai.auth.roles import Role
from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.store import registry, trail
from kneeai.store.db import read_session
from kneeai.store.models import AuditEvent
from kneeai.store.users import ROLE_NAMES, all_user_roles, roles_of, set_user_roles


def _events() -> list[AuditEvent]:
    with read_session() as s:
        return list(s.query(AuditEvent).order_by(AuditEvent.id))


def test_the_table_holds_exactly_the_auth_roles():
    assert set(ROLE_NAMES) == {r.value for r in Role}


def test_roles_are_set_replaced_and_removed_and_each_change_is_one_audit_event():
    assert roles_of("dr.lee") == frozenset() and all_user_roles() == {}
    assert set_user_roles("dr.lee", ["Clinician ", "demo"], user="ann") == ()
    assert roles_of("dr.lee") == {"clinician", "demo"}
    assert set_user_roles("dr.lee", ["admin"], user="ann") == ("clinician", "demo")
    assert set_user_roles("dr.lee", ["admin"], user="ann") == ("admin",)  # no change: no event
    set_user_roles("dr.wu", ["clinician"], user="ann")
    assert all_user_roles() == {"dr.lee": ("admin",), "dr.wu": ("clinician",)}
    set_user_roles("dr.lee", [], user="ann")
    assert roles_of("dr.lee") == frozenset() and list(all_user_roles()) == ["dr.wu"]
    events = _events()
    assert [(e.action, e.user, e.subject) for e in events] == [("role_change", "ann", "user:dr.lee")] * 2 + [
        ("role_change", "ann", "user:dr.wu"), ("role_change", "ann", "user:dr.lee")]
    assert [json.loads(e.output_json)["previous"] for e in events] == [[], ["clinician", "demo"], [], ["admin"]]
    assert trail.check_audit().ok and trail.check_audit().n_events == 4


@pytest.mark.parametrize("subject", ["", "   ", "a\nb", "x" * 129])
def test_a_subject_that_cannot_be_an_id_token_sub_is_refused(subject):
    with pytest.raises(KneeAIError) as err:
        set_user_roles(subject, ["demo"], user="ann")
    assert err.value.key == "error.user_subject"
    assert all_user_roles() == {} and _events() == []


def test_an_unknown_role_is_refused_not_dropped():
    with pytest.raises(KneeAIError) as err:
        set_user_roles("dr.lee", ["clinician", "root"], user="ann")
    assert err.value.message("zh") == t("error.unknown_role", "zh", role="root", known="demo, clinician, admin")
    assert roles_of("dr.lee") == frozenset()


def test_the_audit_listing_is_newest_first_and_names_no_patient():
    patient = registry.create_patient({"name": "Zhang San", "mrn": "A123"}, user="op")
    set_user_roles("dr.lee", ["clinician"], user="ann")
    events = trail.audit_events(10)
    assert [(e["action"], e["user"], e["subject"]) for e in events] == [
        ("role_change", "ann", "user:dr.lee"), ("patient", "op", f"patient:{patient.id}")]
    assert "Zhang" not in json.dumps(events) and "A123" not in json.dumps(events)


def test_the_users_command_lists_sets_and_removes(capsys, monkeypatch):
    monkeypatch.setenv("KNEEAI_USER", "it.admin")
    assert main(["users", "list"]) == 0
    assert t("cli.users.none", "en") in capsys.readouterr().out
    assert main(["--lang", "zh", "users", "set", "dr.lee", "admin", "clinician"]) == 0
    assert capsys.readouterr().out.strip() == t("cli.users.changed", "zh", subject="dr.lee", before="-", after="admin, clinician")
    assert main(["users", "list"]) == 0
    assert capsys.readouterr().out == "dr.lee\tadmin, clinician\n"
    assert main(["users", "remove", "dr.lee"]) == 0
    assert roles_of("dr.lee") == frozenset()
    assert {e.user for e in _events()} == {"it.admin"}
    assert main(["users", "set", " ", "demo"]) == 1
    assert t("error.user_subject", "en", max=128) in capsys.readouterr().err
