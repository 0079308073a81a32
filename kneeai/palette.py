"""The colours the app and every export share (one home, so the screen and the PDF agree)."""
from __future__ import annotations

__all__ = ["MODEL_COLOURS"]

# One colour per survival model, in the order RiskResult.models lists them.
MODEL_COLOURS: tuple[str, ...] = ("#2563a8", "#c2571a", "#5b8c3a")
