"""In Chromium, against a real OpenID provider: sign in with st.login as a clinician, a demo user
and a user without a role, and check what each can see.

The provider is the OpenID-certified ``oidc-provider`` (scripts/services/oidc/provider.js) on
loopback. ``scripts/test.sh`` starts it and exports ``KNEEAI_TEST_OIDC_ISSUER``; run alone, this
module starts it itself from the installed node_modules (``bash scripts/services/oidc.sh install``).
The app gets its ``[auth]`` secrets from a file written here (``STREAMLIT_SECRETS_FILES``): the
checkout's own .streamlit/ never holds a secret.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from kneeai.i18n import t
from kneeai.store.db import read_session
from kneeai.store.models import AuditEvent
from tests.e2e.browser import ROOT, chromium_page, streamlit_server, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROVIDER_DIR = ROOT / "scripts" / "services" / "oidc"
CLIENT_ID = "kneeai-test"
CLIENT_SECRET = os.environ.get("KNEEAI_TEST_OIDC_CLIENT_SECRET", "kneeai-test-secret-not-for-production")
# The test users of provider.js: login, password, the name in their ID token.
CLINICIAN = ("dr.lee", "clinician-pass", "Dr Lee (test clinician)")
DEMO = ("demo.visitor", "demo-pass", "Demo Visitor (test)")
NO_ROLE = ("no.role", "norole-pass", "No Role (test)")
EXAMPLE = ROOT / "examples" / "knees" / "kl3_9023348L.webp"
PATIENT_NAV = ("nav.patient", "nav.export", "nav.batch", "nav.risk_refit")
DEMO_NAV = ("nav.grade", "nav.explain", "nav.risk", "nav.risk_validation", "nav.consult", "nav.about")


def _metadata_ok(issuer: str) -> bool:
    try:
        with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> Iterator[str]:
    """The test provider's issuer URL: the one test.sh started, or one started here."""
    given = os.environ.get("KNEEAI_TEST_OIDC_ISSUER")
    if given:
        assert _metadata_ok(given), f"KNEEAI_TEST_OIDC_ISSUER={given} does not answer"
        yield given
        return
    node = shutil.which("node")
    assert node, "Node.js is needed for the sign-in tests (bash scripts/test.sh checks and says so)"
    assert (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(), \
        "oidc-provider is not installed: run bash scripts/services/oidc.sh install (scripts/test.sh does)"
    ready = tmp_path_factory.mktemp("oidc") / "issuer"
    log = ready.with_name("provider.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([node, str(PROVIDER_DIR / "provider.js"), "--ready-file", str(ready)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while not (ready.exists() and ready.read_text().strip()):
            assert proc.poll() is None, "the OpenID provider exited: " + log.read_text(errors="replace")
            assert time.time() < deadline, "the OpenID provider did not start: " + log.read_text(errors="replace")
            time.sleep(0.2)
        yield ready.read_text().strip()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def app(issuer, tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    """``streamlit run app.py`` on loopback with sign-in configured; (url, registry file, issuer)."""
    folder = tmp_path_factory.mktemp("signin")
    secrets = folder / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{{port}}/oauth2callback"
cookie_secret = "{os.urandom(24).hex()}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
client_kwargs = {{ scope = "openid profile email roles", prompt = "login" }}
''', encoding="utf-8")
    db = folder / "signin.db"
    before = os.environ.get("STREAMLIT_SECRETS_FILES")
    os.environ["STREAMLIT_SECRETS_FILES"] = str(secrets)  # read by the `streamlit run` child only
    try:
        with streamlit_server(db) as url:
            yield url, db, issuer
    finally:
        if before is None:
            os.environ.pop("STREAMLIT_SECRETS_FILES", None)
        else:
            os.environ["STREAMLIT_SECRETS_FILES"] = before


def _sign_in(page, app: tuple[str, Path, str], login: str, password: str) -> None:
    """From the app's sign-in page to the provider's login form, and submit it."""
    url, _, issuer = app
    page.goto(url)
    page.get_by_role("button", name=t("auth.sign_in", "en")).click()
    page.wait_for_selector("#login", timeout=60_000)
    assert page.url.startswith(issuer + "/"), page.url  # st.login sent the browser to the provider
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("#submit")


def _nav_names(page) -> set[str]:
    """The page titles in the sidebar's page list (each link's text starts with its icon's name)."""
    return {n.strip().splitlines()[-1].strip() for n in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts() if n.strip()}


def _signed_in_as(page, name: str) -> None:
    page.get_by_text(name).first.wait_for(timeout=120_000)
    wait_idle(page)


def test_before_sign_in_nothing_but_the_sign_in_page_and_a_wrong_password_is_refused(app):
    url = app[0]
    with chromium_page() as page:
        page.goto(f"{url}/patient")
        page.get_by_text(t("auth.sign_in_title", "en")).wait_for(timeout=120_000)
        wait_idle(page)
        assert page.get_by_text(t("patient.new_help", "en")).count() == 0
        assert not _nav_names(page) & {t(k, "en") for k in PATIENT_NAV}
        _sign_in(page, app, CLINICIAN[0], "not-the-password")
        page.get_by_text("Wrong username or password.").wait_for()
        assert page.url.startswith(app[2] + "/")


def test_a_clinician_signs_in_sees_the_patient_pages_and_is_named_in_the_audit(app, monkeypatch):
    url, db, _ = app
    with chromium_page() as page:
        _sign_in(page, app, *CLINICIAN[:2])
        _signed_in_as(page, CLINICIAN[2] + " · clinician")
        assert _nav_names(page) >= {t(k, "en") for k in PATIENT_NAV + DEMO_NAV}
        # Grade a film of one's own, then keep it as a visit of a new patient.
        page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
        page.locator("input[type='file']").first.set_input_files(str(EXAMPLE))
        page.locator("h3").filter(has_text="KL").first.wait_for(timeout=180_000)
        wait_idle(page)
        page.get_by_role("link", name=t("nav.patient", "en")).first.click()
        page.get_by_text(t("patient.new_help", "en")).first.wait_for(timeout=120_000)
        wait_idle(page)
        page.get_by_role("button", name=t("patient.create", "en")).click()
        wait_idle(page)
        page.get_by_role("button", name=t("patient.save", "en")).click()
        page.get_by_text(t("patient.saved", "en", n=1)).wait_for(timeout=120_000)
        assert page.locator("[data-testid='stException']").count() == 0
    monkeypatch.setenv("KNEEAI_DB", str(db))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    with read_session() as s:
        events = [(e.action, e.subject, e.user) for e in s.query(AuditEvent).order_by(AuditEvent.id)]
    visit_events = [e for e in events if (e[1] or "").startswith("visit:")]
    assert visit_events and {e[2] for e in visit_events} == {CLINICIAN[0]}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_demo_user_signs_in_and_sees_the_examples_and_the_tkr_demo_only(app, lang, tmp_path):
    url = app[0]
    with chromium_page() as page:
        _sign_in(page, app, *DEMO[:2])
        _signed_in_as(page, DEMO[2] + " · demo")
        page.goto(f"{url}/?lang={lang}")  # the sign-in cookie stays; a new session in that language
        page.get_by_text(DEMO[2] + " · demo").first.wait_for(timeout=120_000)
        wait_idle(page)
        names = _nav_names(page)
        assert names == {t(k, lang) for k in DEMO_NAV}
        # A patient page opened from its URL is not there for a demo user.
        page.goto(f"{url}/patient?lang={lang}")
        page.get_by_text(DEMO[2] + " · demo").first.wait_for(timeout=120_000)
        wait_idle(page)
        assert page.get_by_text(t("patient.new_help", lang)).count() == 0
        assert page.get_by_role("button", name=t("patient.create", lang)).count() == 0
        page.screenshot(path=str(tmp_path / f"demo-patient-{lang}.png"))
        # The TKR demo opens.
        page.goto(f"{url}/risk?lang={lang}")
        page.locator("h1").filter(has_text=t("nav.risk", lang)).first.wait_for(timeout=120_000)
        wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0


def test_a_user_without_a_role_signs_in_and_sees_no_patient(app):
    url = app[0]
    with chromium_page() as page:
        _sign_in(page, app, *NO_ROLE[:2])
        page.get_by_text(t("auth.no_role_title", "en")).first.wait_for(timeout=120_000)
        wait_idle(page)
        assert t("auth.no_role", "en", name=NO_ROLE[2]) in page.evaluate("() => document.body.innerText")
        assert not _nav_names(page) & {t(k, "en") for k in PATIENT_NAV + DEMO_NAV}
        page.goto(f"{url}/patient")
        page.get_by_text(t("auth.no_role_title", "en")).first.wait_for(timeout=120_000)
        assert page.get_by_text(t("patient.new_help", "en")).count() == 0
        # Signing out ends the provider's session too (RP-initiated logout) and lands on the sign-in page.
        page.goto(url)  # (Streamlit's "page not found" dialog for /patient would cover the button)
        page.get_by_text(t("auth.no_role_title", "en")).first.wait_for(timeout=120_000)
        wait_idle(page)
        page.get_by_role("button", name=t("auth.sign_out", "en")).first.click()
        page.wait_for_selector("#logout", timeout=60_000)
        assert page.url.startswith(app[2] + "/")
        page.click("#logout")
        page.get_by_text(t("auth.sign_in_title", "en")).wait_for(timeout=120_000)
        assert page.url.startswith(url)
