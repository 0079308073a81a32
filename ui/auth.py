"""Sign-in with Streamlit's own ``st.login`` (OpenID Connect), and what the visitor may see.

The policy lives in :mod:`kneeai.auth`; this module only reads what Streamlit knows (the
``[auth]`` and ``[kneeai]`` sections of the secrets, ``st.user``, ``server.address``) and draws
the sign-in page, the account panel and the refusals. ``audit_user()`` is the signed-in subject
that registry calls pass as ``user=`` so every audit event names who did it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from kneeai.auth import DEFAULT_ROLE_CLAIM, Access, AccessMode, Capability, decide_access, page_allowed
from ui.widgets import tr

__all__ = ["current_access", "audit_user", "sign_in_page", "no_role_page", "account_panel", "refuse_page",
           "page_allowed_now", "guard_upload", "SETTINGS_SECTION"]

# [kneeai] in secrets.toml: role_claim (default "roles") and auth_provider (default "default").
SETTINGS_SECTION = "kneeai"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _secrets_section(name: str) -> dict[str, Any] | None:
    """One section of the secrets as a plain dict, or None (no secrets file, or no such section)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        value = st.secrets.get(name)
    except Exception:  # an unreadable secrets file is "not configured"; Streamlit logs why
        return None
    return _plain(value) if isinstance(value, Mapping) else None


def _settings() -> tuple[str, str]:
    settings = _secrets_section(SETTINGS_SECTION) or {}
    return str(settings.get("role_claim") or DEFAULT_ROLE_CLAIM), str(settings.get("auth_provider") or "default")


def current_access() -> Access:
    """What this session may do now (recomputed each run: a sign-out takes effect at once)."""
    role_claim, provider = _settings()
    try:
        user = st.user.to_dict()
    except Exception:  # no script-run context (called outside a run)
        user = {}
    return decide_access(st.get_option("server.address"), _secrets_section("auth"), user, role_claim, provider,
                         _granted_roles(user))


def _granted_roles(user: Mapping[str, Any]) -> frozenset[str]:
    """The roles an admin gave this user in the registry's table (none when the registry cannot
    be read: the claim's roles still apply, and the Admin page says what is wrong)."""
    if not user.get("is_logged_in") or not user.get("sub"):
        return frozenset()
    from sqlalchemy.exc import SQLAlchemyError

    from kneeai.errors import KneeAIError
    from kneeai.store.users import roles_of

    try:
        return roles_of(str(user["sub"]))
    except (KneeAIError, SQLAlchemyError, OSError) as exc:
        import logging

        logging.getLogger(__name__).warning("roles table unreadable: %s", exc)
        return frozenset()


def audit_user() -> str | None:
    """The signed-in subject for ``user=`` of registry calls; None on a single workstation,
    where the registry falls back to ``KNEEAI_USER``."""
    return current_access().subject


def page_allowed_now(page: str, access: Access | None = None) -> bool:
    return page_allowed(page, (access or current_access()).capabilities)


def sign_in_page() -> None:
    """The only page before sign-in when ``[auth]`` is configured."""
    _, provider = _settings()
    st.title(tr("auth.sign_in_title"))
    st.write(tr("auth.sign_in_help"))
    if st.button(tr("auth.sign_in"), type="primary", icon=":material/login:", key="_auth_sign_in"):
        st.login(provider)
    st.caption(tr("app.intended_use"))


def no_role_page() -> None:
    """Signed in, but the ID token names no KneeAI role: nothing but this and a way out."""
    access = current_access()
    st.title(tr("auth.no_role_title"))
    st.warning(tr("auth.no_role", name=access.name or "?"), icon=":material/block:")
    if st.button(tr("auth.sign_out"), icon=":material/logout:", key="_auth_sign_out_norole"):
        st.logout()


def account_panel(access: Access) -> None:
    """The sidebar's line about who is signed in (or why nobody needs to be)."""
    if access.mode is AccessMode.SIGN_IN and access.signed_in:
        roles = ", ".join(sorted(r.value for r in access.roles)) or tr("auth.no_roles")
        st.markdown("**" + tr("auth.signed_in_as") + "**")
        st.text(f"{access.name or access.subject} · {roles}")
        if access.name and access.subject and access.name != access.subject:
            st.caption(tr("auth.subject", subject=access.subject))  # what an admin types on the Admin page
        if st.button(tr("auth.sign_out"), icon=":material/logout:", key="_auth_sign_out"):
            st.logout()
    elif access.mode is AccessMode.WORKSTATION:
        st.caption(":material/computer: " + tr("auth.workstation"))
    elif access.mode is AccessMode.REFUSED:
        st.caption(":material/lock: " + tr("auth.refused_short"))


def refuse_page(access: Access) -> None:
    """Shown instead of a page this visitor may not open, with the reason and the way forward."""
    if access.mode is AccessMode.REFUSED:
        if access.missing:
            st.error(tr("auth.refused_incomplete", missing=", ".join(access.missing)), icon=":material/lock:")
        else:
            st.error(tr("auth.refused_network", address=access.address or "0.0.0.0"), icon=":material/lock:")
    else:
        st.error(tr("auth.refused_role"), icon=":material/block:")


def guard_upload(uploaded: object) -> None:
    """On the Grade page: a visitor who may not grade their own films (demo) gets the example
    knees only; an uploaded file stops the page with a message until it is removed."""
    if uploaded is not None and not current_access().can(Capability.GRADE):
        st.warning(tr("auth.examples_only"), icon=":material/block:")
        st.stop()
