"""When sign-in is required, and what a visitor may do before and after it.

Three ways the app can be running:

- ``WORKSTATION``: no sign-in configured and the server listens on loopback only (the default,
  ``server.address = "127.0.0.1"``): whoever sits at the machine is its one operator and may do
  everything, as before sign-in existed.
- ``SIGN_IN``: ``[auth]`` in ``.streamlit/secrets.toml`` is complete; every visitor signs in with
  the OpenID provider and gets what the roles in their ID token allow (no role: nothing).
- ``REFUSED``: the server is reachable from other machines (any address but loopback, or every
  interface) without sign-in, or ``[auth]`` is there but incomplete; only what needs no patient
  data is shown (the example knees and the TKR demo), and patient pages say why they are closed.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kneeai.auth.roles import (DEFAULT_ROLE_CLAIM, ROLE_CAPABILITIES, Capability, Role, capabilities_of,
                               roles_from_claims)

__all__ = ["LOOPBACK_NAMES", "AccessMode", "Access", "is_loopback", "sign_in_required", "missing_sign_in_settings",
           "decide_access"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


class AccessMode(str, Enum):
    WORKSTATION = "workstation"
    SIGN_IN = "sign_in"
    REFUSED = "refused"


@dataclass(frozen=True)
class Access:
    """What this visitor may do now.

    ``subject`` is the ID token's ``sub`` once signed in (it goes into every audit event), else
    None; ``missing`` names the ``[auth]`` settings still absent when the mode is REFUSED.
    """

    mode: AccessMode
    signed_in: bool
    subject: str | None
    name: str | None
    roles: frozenset[Role]
    capabilities: frozenset[Capability]
    address: str | None
    missing: tuple[str, ...] = ()

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def is_loopback(address: str | None) -> bool:
    """True when a server bound to ``address`` is reachable from this machine only.

    An empty or missing address binds every interface, so it is not loopback.
    """
    if address is None:
        return False
    a = address.strip().lower()
    if a.startswith("[") and a.endswith("]"):
        a = a[1:-1]
    if not a:
        return False
    if a in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(a).is_loopback
    except ValueError:
        return False


def sign_in_required(address: str | None) -> bool:
    """Any address but loopback needs sign-in to be configured before patient pages open."""
    return not is_loopback(address)


def missing_sign_in_settings(auth: Mapping[str, Any] | None, provider: str = "default") -> tuple[str, ...]:
    """The settings of ``[auth]`` (as Streamlit's ``st.login`` reads them) that are absent.

    The provider's keys sit in ``[auth]`` itself for the default provider, or in
    ``[auth.<provider>]`` for a named one.
    """
    auth = auth or {}
    missing = [k for k in SHARED_KEYS if not auth.get(k)]
    if provider == "default":
        # Streamlit reads [auth.default] if there is one, else the keys of [auth] itself.
        section = auth.get("default") if isinstance(auth.get("default"), Mapping) else auth
    else:
        section = auth.get(provider) if isinstance(auth.get(provider), Mapping) else {}
    prefix = "" if provider == "default" else f"{provider}."
    missing += [prefix + k for k in PROVIDER_KEYS if not section.get(k)]
    return tuple(missing)


def decide_access(address: str | None, auth: Mapping[str, Any] | None, user: Mapping[str, Any] | None,
                  role_claim: str = DEFAULT_ROLE_CLAIM, provider: str = "default",
                  granted: Iterable[str] = ()) -> Access:
    """What a visitor may do, from the server's address, the ``[auth]`` secrets and ``st.user``.

    Parameters
    ----------
    address : ``server.address`` (None or "" for every interface).
    auth : the ``[auth]`` section of the secrets, or None when there is none.
    user : the signed-in user's ID-token claims (``st.user``), or None; ``is_logged_in`` must be true.
    role_claim : the claim that carries KneeAI's role names.
    granted : the roles the registry's table gives this user's subject
        (:func:`kneeai.store.users.roles_of`); they add to the claim's.
    """
    missing = missing_sign_in_settings(auth, provider)
    if not missing:
        signed_in = bool(user) and bool(user.get("is_logged_in"))
        roles = roles_from_claims(user, role_claim) if signed_in and user else frozenset()
        if signed_in:
            roles |= roles_from_claims({"granted": list(granted)}, "granted")
        subject = str(user["sub"]) if signed_in and user and user.get("sub") else None
        name = None
        if signed_in and user:
            name = next((str(user[k]) for k in ("name", "preferred_username", "email", "sub") if user.get(k)), None)
        # Signed in without a subject is not an identity the audit can name: nothing allowed.
        caps = capabilities_of(roles) if subject else frozenset()
        return Access(AccessMode.SIGN_IN, signed_in, subject, name, roles, caps, address)
    configured_in_part = bool(auth)
    if is_loopback(address) and not configured_in_part:
        return Access(AccessMode.WORKSTATION, False, None, None, frozenset({Role.ADMIN}), ROLE_CAPABILITIES[Role.ADMIN],
                      address)
    return Access(AccessMode.REFUSED, False, None, None, frozenset(), ROLE_CAPABILITIES[Role.DEMO], address,
                  missing if configured_in_part else ())
