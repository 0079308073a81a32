"""Who may see what: roles, the pages each one opens, and when sign-in is required.

Pure policy, no Streamlit: ``ui/auth.py`` reads the signed-in user (``st.user``), the secrets and
the server's address, and asks these functions what to show.
"""
from kneeai.auth.access import (LOOPBACK_NAMES, AccessMode, Access, decide_access, is_loopback,
                                missing_sign_in_settings, sign_in_required)
from kneeai.auth.roles import (DEFAULT_ROLE_CLAIM, PAGE_NEEDS, ROLE_CAPABILITIES, Capability, Role, capabilities_of,
                               page_allowed, page_needs, roles_from_claims)

__all__ = [
    "LOOPBACK_NAMES",
    "AccessMode",
    "Access",
    "decide_access",
    "is_loopback",
    "missing_sign_in_settings",
    "sign_in_required",
    "DEFAULT_ROLE_CLAIM",
    "PAGE_NEEDS",
    "ROLE_CAPABILITIES",
    "Capability",
    "Role",
    "capabilities_of",
    "page_allowed",
    "page_needs",
    "roles_from_claims",
]
