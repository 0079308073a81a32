"""Shared fixtures. `kneeai` and `ui` import from the editable install (`pip install -e .`)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data" / "knee-kl"


@pytest.fixture(autouse=True)
def _isolated_db(tmp_path, monkeypatch):
    """Every test gets its own registry file; nothing touches ~/.kneeai."""
    monkeypatch.setenv("KNEEAI_DB", str(tmp_path / "kneeai.db"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kneeai.db'}")


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return ROOT / "examples"
