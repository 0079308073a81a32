"""The registry's one clock: UTC timestamps to the second, as every table stores them."""
from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["now_iso"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
