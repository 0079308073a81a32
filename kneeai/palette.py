"""The colours the app and every export share (one home, so the screen and the PDF agree).

The app's theme in ``.streamlit/config.toml`` names the same primary and text colours; a test
checks that the two stay equal.
"""
from __future__ import annotations

__all__ = ["MODEL_COLOURS", "ACCENT", "WARN", "INK", "MUTED", "GUIDE", "GRID", "FALLBACK", "PANEL", "WARN_PANEL", "UNAFFECTED",
           "hex_to_rgb"]

ACCENT = "#2563a8"  # the theme's primaryColor: links, headings, the first model
WARN = "#c2571a"  # warnings and the people affected in an icon array
INK = "#1d2733"  # the theme's textColor
MUTED = "#6e6e6e"  # captions, footers, secondary marks in charts (the model's grade beside the clinician's)
GUIDE = "#999999"  # reference lines in charts: perfect calibration, zero
GRID = "#eeeeee"  # chart gridlines
FALLBACK = "#444444"  # a chart mark whose colour cannot be read (the PDF draws it, never drops it)
PANEL = "#eceef1"  # alternate table rows
WARN_PANEL = "#fdf3e7"  # the background of a warning box
UNAFFECTED = "#d5d9de"  # the people not affected in an icon array

# One colour per survival model, in the order RiskResult.models lists them.
MODEL_COLOURS: tuple[str, ...] = (ACCENT, WARN, "#5b8c3a")


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#2563a8"`` -> ``(37, 99, 168)``."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
