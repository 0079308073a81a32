"""One frozen home for paths, limits and thresholds.

Every number a user could ask "why this value?" about lives here, with its reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "SETTINGS", "PACKAGE_ROOT", "REPO_ROOT", "database_url"]

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
STREAMLIT_CONFIG = REPO_ROOT / ".streamlit" / "config.toml"
DEFAULT_UPLOAD_MB = 50


def _upload_mb() -> int:
    """Streamlit's ``server.maxUploadSize`` (MB), the one home of the upload cap: the library and
    the command line refuse a larger file too, so the app and the CLI accept the same films."""
    import tomllib

    try:
        return int(tomllib.loads(STREAMLIT_CONFIG.read_text(encoding="utf-8"))["server"]["maxUploadSize"])
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError):
        return DEFAULT_UPLOAD_MB


@dataclass(frozen=True)
class ClinicalRange:
    """Plausible bounds for a clinical input; outside them we refuse rather than guess."""

    low: float
    high: float
    unit: str


@dataclass(frozen=True)
class Settings:
    weights_dir: Path = REPO_ROOT / "weights"
    examples_dir: Path = REPO_ROOT / "examples"
    data_dir: Path = Path(os.environ.get("KNEEAI_DATA", str(REPO_ROOT.parent / "shared" / "data" / "knee-kl")))

    # Decompression-bomb guard: a 43x35 cm detector at 0.1 mm is ~15 MP; 80 MP leaves room
    # for stitched long-leg films while refusing crafted headers.
    max_pixels: int = 80_000_000
    max_upload_mb: int = field(default_factory=_upload_mb)
    # A report bundle (a PDF per knee, kept for download) takes at most this many files and bytes;
    # larger sets go to the archive mode (`batch --out`), which streams to disk.
    max_batch_files: int = 200
    max_batch_mb: int = 1000

    # Model input: the training crops are 224x224 knee joints.
    input_size: int = 224
    # DeepKnee crops a fixed 140 mm square around the joint when spacing is known.
    crop_mm: float = 140.0
    # A small image is taken as a single-knee crop (the OAI crops are 224 px; other clinics' crops
    # seen at 300x162, wider than tall; kneeai.imaging.localize.is_single_knee); whole films
    # exported from viewers start at ~1000 px a side.
    single_knee_max_aspect: float = 2.0
    single_knee_max_side: int = 800

    # Grade wording: a second grade within this probability of the top one reads "between".
    borderline_margin: float = 0.15

    clinical: dict[str, ClinicalRange] = field(
        default_factory=lambda: {
            "age": ClinicalRange(18, 100, "years"),
            "bmi": ClinicalRange(12, 70, "kg/m²"),
            "womac_pain": ClinicalRange(0, 20, "0–20"),
        }
    )

    languages: tuple[str, ...] = ("en", "zh")
    default_language: str = "en"


SETTINGS = Settings()


def database_url() -> str:
    """Read at call time, so tests and deployments can point the registry elsewhere.

    ``DATABASE_URL`` (e.g. PostgreSQL for a practice with several workstations) wins; otherwise
    a SQLite file at ``KNEEAI_DB`` or ``~/.kneeai/kneeai.db``.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + os.environ.get("KNEEAI_DB", str(Path.home() / ".kneeai" / "kneeai.db"))
