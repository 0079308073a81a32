"""The export page (placeholder until its issue lands)."""
from ui.widgets import coming_soon, page_header

page_header("nav.export")
coming_soon()
