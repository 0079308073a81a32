"""kneeai.auth: roles from the ID token, the pages each role opens, and when sign-in is required."""
from __future__ import annotations

import tomllib

import pytest

from kneeai.auth import (DEFAULT_ROLE_CLAIM, PAGE_NEEDS, AccessMode, Capability, Role, capabilities_of, decide_access, is_loopback,
                         missing_sign_in_settings, page_allowed, roles_from_claims, sign_in_required)
from tests.conftest import ROOT
from ui.navigation import PAGES

AUTH = {
    "redirect_uri": "http://127.0.0.1:{port}/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "kneeai",
    "client_secret": "s3cret",
    "server_metadata_url": "http://127.0.0.1:9000/.well-known/openid-configuration",
}
PATIENT_PAGES = ("patient", "export", "batch", "risk_refit")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]", " 127.0.0.1 "])
def test_loopback_addresses_need_no_sign_in(address):
    assert is_loopback(address) and not sign_in_required(address)


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "kneeai.hospital.example", "[::]"])
def test_every_other_address_needs_sign_in(address):
    assert not is_loopback(address) and sign_in_required(address)


@pytest.mark.parametrize("value, expected", [
    ("clinician", {Role.CLINICIAN}),
    (["demo"], {Role.DEMO}),
    (["Admin ", "clinician"], {Role.ADMIN, Role.CLINICIAN}),
    ("demo, clinician", {Role.DEMO, Role.CLINICIAN}),
    (["nurse", "superuser"], set()),
    ([], set()),
    (7, set()),
    ({"admin": True}, set()),
])
def test_roles_come_from_the_claim_and_unknown_names_grant_nothing(value, expected):
    assert roles_from_claims({"roles": value}) == expected


def test_the_role_claim_can_be_named_by_the_deployment():
    claims = {"roles": ["demo"], "kneeai_role": "admin"}
    assert roles_from_claims(claims, "kneeai_role") == {Role.ADMIN}
    assert roles_from_claims({"sub": "x"}) == frozenset()


def test_each_role_can_do_what_the_issue_says():
    demo, clinician, admin = (capabilities_of([r]) for r in (Role.DEMO, Role.CLINICIAN, Role.ADMIN))
    assert demo == {Capability.EXAMPLES, Capability.TKR_DEMO}
    assert clinician == demo | {Capability.GRADE, Capability.RECORDS, Capability.EXPORT}
    assert admin == clinician | {Capability.BACKUP, Capability.RESTORE, Capability.AUDIT_VIEW, Capability.USER_ROLES}
    assert capabilities_of([]) == frozenset()
    assert capabilities_of([Role.DEMO, Role.CLINICIAN]) == clinician


def test_every_page_of_the_app_has_a_rule_and_demo_sees_no_patient_page():
    stems = {path.split("/")[-1].removesuffix(".py") for path, *_ in PAGES}
    assert stems <= set(PAGE_NEEDS)
    demo = capabilities_of([Role.DEMO])
    assert {s for s in stems if page_allowed(s, demo)} == {"grade", "explain", "consult", "risk", "risk_validation", "about"}
    for page in PATIENT_PAGES:
        assert not page_allowed(page, demo)
        assert page_allowed(page, capabilities_of([Role.CLINICIAN]))


def test_a_page_nobody_listed_is_closed_to_demo_users():
    assert not page_allowed("pacs", capabilities_of([Role.DEMO]))
    assert page_allowed("pacs", capabilities_of([Role.CLINICIAN]))


def test_missing_settings_are_named():
    assert missing_sign_in_settings(AUTH) == ()
    assert missing_sign_in_settings(None) == ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
    partial = {k: v for k, v in AUTH.items() if k not in ("cookie_secret", "client_secret")}
    assert missing_sign_in_settings(partial) == ("cookie_secret", "client_secret")
    named = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": "x", "hospital": {"client_id": "a", "client_secret": "b"}}
    assert missing_sign_in_settings(named, "hospital") == ("hospital.server_metadata_url",)
    assert missing_sign_in_settings(AUTH, "hospital") == ("hospital.client_id", "hospital.client_secret",
                                                          "hospital.server_metadata_url")


def test_the_example_secrets_file_is_complete_and_names_the_role_claim():
    example = tomllib.loads((ROOT / ".streamlit" / "secrets.example.toml").read_text(encoding="utf-8"))
    assert missing_sign_in_settings(example["auth"], example["kneeai"]["auth_provider"]) == ()
    assert example["kneeai"]["role_claim"] == DEFAULT_ROLE_CLAIM
    assert "roles" in example["auth"]["client_kwargs"]["scope"].split()


def test_the_default_single_workstation_may_do_everything_without_sign_in():
    access = decide_access("127.0.0.1", None, None)
    assert access.mode is AccessMode.WORKSTATION and access.subject is None
    assert all(page_allowed(p, access.capabilities) for p in PAGE_NEEDS)


@pytest.mark.parametrize("address", [None, "0.0.0.0", "192.168.1.20"])
def test_a_network_address_without_sign_in_shows_no_patient_page(address):
    access = decide_access(address, None, None)
    assert access.mode is AccessMode.REFUSED
    assert access.capabilities == capabilities_of([Role.DEMO])
    assert not any(page_allowed(p, access.capabilities) for p in PATIENT_PAGES)


def test_sign_in_configured_in_part_is_refused_even_on_loopback_and_says_what_is_missing():
    partial = {k: v for k, v in AUTH.items() if k != "client_secret"}
    access = decide_access("127.0.0.1", partial, None)
    assert access.mode is AccessMode.REFUSED and access.missing == ("client_secret",)


def test_with_sign_in_a_visitor_sees_nothing_until_signed_in():
    for user in (None, {}, {"is_logged_in": False}, {"email": "test@example.com"}):
        access = decide_access("0.0.0.0", AUTH, user)
        assert access.mode is AccessMode.SIGN_IN and not access.signed_in and access.capabilities == frozenset()


def test_a_signed_in_user_gets_their_roles_and_subject():
    user = {"is_logged_in": True, "sub": "dr.lee", "name": "Dr Lee", "roles": ["clinician"]}
    access = decide_access("0.0.0.0", AUTH, user)
    assert access.signed_in and access.subject == "dr.lee" and access.name == "Dr Lee"
    assert access.roles == {Role.CLINICIAN} and access.can(Capability.RECORDS) and not access.can(Capability.BACKUP)


def test_a_signed_in_user_without_a_role_or_subject_gets_nothing():
    assert decide_access("0.0.0.0", AUTH, {"is_logged_in": True, "sub": "x", "roles": []}).capabilities == frozenset()
    assert decide_access("0.0.0.0", AUTH, {"is_logged_in": True, "roles": ["admin"]}).capabilities == frozenset()


def test_roles_granted_in_the_registry_add_to_the_claims_and_unknown_names_grant_nothing():
    user = {"is_logged_in": True, "sub": "dr.lee", "name": "Dr Lee", "roles": ["demo"]}
    access = decide_access("0.0.0.0", AUTH, user, granted=["clinician", "superuser"])
    assert access.roles == {Role.DEMO, Role.CLINICIAN} and access.can(Capability.RECORDS)
    assert not access.can(Capability.USER_ROLES)
    # Granted roles never reach a visitor who has not signed in.
    assert decide_access("0.0.0.0", AUTH, None, granted=["admin"]).capabilities == frozenset()


def test_only_admins_open_the_admin_page():
    assert page_allowed("admin", capabilities_of([Role.ADMIN]))
    assert not page_allowed("admin", capabilities_of([Role.CLINICIAN, Role.DEMO]))
