"""The page list: one home for the order, titles and icons of the app's pages."""
from __future__ import annotations

__all__ = ["PAGES", "DEFAULT_PAGE"]

# (script, title key, icon, default)
PAGES = (
    ("views/grade.py", "nav.grade", ":material/orthopedics:", True),
    ("views/explain.py", "nav.explain", ":material/visibility:", False),
    ("views/risk.py", "nav.risk", ":material/monitoring:", False),
    ("views/risk_validation.py", "nav.risk_validation", ":material/analytics:", False),
    ("views/risk_refit.py", "nav.risk_refit", ":material/tune:", False),
    ("views/patient.py", "nav.patient", ":material/folder_shared:", False),
    ("views/consult.py", "nav.consult", ":material/forum:", False),
    ("views/export.py", "nav.export", ":material/download:", False),
    ("views/batch.py", "nav.batch", ":material/stacks:", False),
    ("views/pacs.py", "nav.pacs", ":material/cloud_sync:", False),
    ("views/admin.py", "nav.admin", ":material/admin_panel_settings:", False),
    ("views/about.py", "nav.about", ":material/info:", False),
)

DEFAULT_PAGE = next(path for path, _, _, default in PAGES if default)
