"""The page list: one home for the order, titles and icons of the app's pages."""
from __future__ import annotations

__all__ = ["PAGES", "DEFAULT_PAGE"]

# (script, title key, icon, default)
PAGES = (
    ("pages/grade.py", "nav.grade", ":material/orthopedics:", True),
    ("pages/explain.py", "nav.explain", ":material/visibility:", False),
    ("pages/risk.py", "nav.risk", ":material/monitoring:", False),
    ("pages/risk_validation.py", "nav.risk_validation", ":material/analytics:", False),
    ("pages/risk_refit.py", "nav.risk_refit", ":material/tune:", False),
    ("pages/patient.py", "nav.patient", ":material/folder_shared:", False),
    ("pages/consult.py", "nav.consult", ":material/forum:", False),
    ("pages/export.py", "nav.export", ":material/download:", False),
    ("pages/batch.py", "nav.batch", ":material/stacks:", False),
    ("pages/about.py", "nav.about", ":material/info:", False),
)

DEFAULT_PAGE = next(path for path, _, _, default in PAGES if default)
