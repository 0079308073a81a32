"""Roles, what each may do, and which pages need what.

``demo`` sees the example knees and the TKR demonstration and never a patient record;
``clinician`` also grades their own films, keeps records and exports; ``admin`` also backs up,
restores, reads the audit and assigns roles. A role comes from a claim of the ID token
(``roles`` unless the deployment names another); an unknown value grants nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

__all__ = ["Role", "Capability", "ROLE_CAPABILITIES", "PAGE_NEEDS", "DEFAULT_ROLE_CLAIM", "roles_from_claims",
           "capabilities_of", "page_needs", "page_allowed"]

DEFAULT_ROLE_CLAIM = "roles"


class Role(str, Enum):
    DEMO = "demo"
    CLINICIAN = "clinician"
    ADMIN = "admin"


class Capability(str, Enum):
    EXAMPLES = "examples"  # grade and explain the shipped example knees
    TKR_DEMO = "tkr_demo"  # the TKR risk calculator and its validation on the simulated cohort
    GRADE = "grade"  # grade one's own films (upload, batch)
    RECORDS = "records"  # patients, visits, the consultation of a stored patient, own data tables
    EXPORT = "export"  # PDF, JSON, FHIR, CSV and ZIP out of the app
    BACKUP = "backup"
    RESTORE = "restore"
    AUDIT_VIEW = "audit_view"
    USER_ROLES = "user_roles"


_DEMO = frozenset({Capability.EXAMPLES, Capability.TKR_DEMO})
_CLINICIAN = _DEMO | {Capability.GRADE, Capability.RECORDS, Capability.EXPORT}
_ADMIN = _CLINICIAN | {Capability.BACKUP, Capability.RESTORE, Capability.AUDIT_VIEW, Capability.USER_ROLES}

ROLE_CAPABILITIES: Mapping[Role, frozenset[Capability]] = {
    Role.DEMO: _DEMO,
    Role.CLINICIAN: frozenset(_CLINICIAN),
    Role.ADMIN: frozenset(_ADMIN),
}

# Page (the script's stem in views/) -> every capability it needs. A page missing here needs
# RECORDS: a new page is closed to demo users until someone decides otherwise.
PAGE_NEEDS: Mapping[str, frozenset[Capability]] = {
    "grade": frozenset({Capability.EXAMPLES}),  # uploading one's own film needs GRADE as well
    "explain": frozenset({Capability.EXAMPLES}),
    "consult": frozenset({Capability.EXAMPLES}),
    "risk": frozenset({Capability.TKR_DEMO}),
    "risk_validation": frozenset({Capability.TKR_DEMO}),
    "risk_refit": frozenset({Capability.RECORDS}),
    "patient": frozenset({Capability.RECORDS}),
    "export": frozenset({Capability.EXPORT, Capability.RECORDS}),
    "batch": frozenset({Capability.GRADE, Capability.EXPORT}),
    "pacs": frozenset({Capability.GRADE, Capability.RECORDS}),  # pulls patients' films, writes into the PACS
    "admin": frozenset({Capability.AUDIT_VIEW}),  # each of its sections needs its own admin capability
    "about": frozenset(),
}
_UNLISTED_PAGE_NEEDS = frozenset({Capability.RECORDS})


def roles_from_claims(claims: Mapping[str, Any], claim: str = DEFAULT_ROLE_CLAIM) -> frozenset[Role]:
    """The KneeAI roles named in one claim of an ID token.

    The claim may hold one name (``"clinician"``), a space- or comma-separated list, or a JSON
    list; case and surrounding space are ignored, and names KneeAI does not know are dropped.
    """
    value = claims.get(claim)
    if value is None:
        return frozenset()
    names: Iterable[Any]
    if isinstance(value, str):
        names = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple, set, frozenset)):
        names = value
    else:
        return frozenset()
    known = {r.value: r for r in Role}
    return frozenset(known[n.strip().lower()] for n in names if isinstance(n, str) and n.strip().lower() in known)


def capabilities_of(roles: Iterable[Role]) -> frozenset[Capability]:
    """Everything any of ``roles`` may do (roles add up; none gives nothing)."""
    out: set[Capability] = set()
    for role in roles:
        out |= ROLE_CAPABILITIES[Role(role)]
    return frozenset(out)


def page_needs(page: str) -> frozenset[Capability]:
    return PAGE_NEEDS.get(page, _UNLISTED_PAGE_NEEDS)


def page_allowed(page: str, capabilities: Iterable[Capability]) -> bool:
    return page_needs(page) <= frozenset(capabilities)
