"""Shared fixtures. The repository root goes on sys.path so `ui` and `kneeai` import as in the app."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "knee-kl"


@pytest.fixture(autouse=True)
def _isolated_db(tmp_path, monkeypatch):
    """Every test gets its own registry file; nothing touches ~/.kneeai."""
    monkeypatch.setenv("KNEEAI_DB", str(tmp_path / "kneeai.db"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kneeai.db'}")


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return ROOT / "examples"
