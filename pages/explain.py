"""The explain page (placeholder until its issue lands)."""
from ui.widgets import coming_soon, page_header

page_header("nav.explain")
coming_soon()
