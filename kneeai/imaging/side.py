"""A knee's side from its anatomy, for a knee whose film says nothing of it.

On an AP or PA knee film shown as radiographs are read (as if facing the patient), the fibula
stands below the lateral tibial plateau: on the viewer's left for a right knee, on the viewer's
right for a left knee. A logistic regression on the crop at 32 x 32 pixels
(:data:`SIDE_FILE`, fitted by ``python -m kneeai.training.side_fit`` on the OAI knees, whose file
names give their side, with every knee mirrored as the other side too) reads it. The side is
given only when its probability reaches :data:`SIDE_MIN_CONFIDENCE`; the pipeline uses it where
neither the DICOM header nor the knee's position on a bilateral film says which knee it is, and
reports it as ``laterality_source = "anatomy"`` for the user to check.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kneeai.schemas import Laterality

__all__ = ["SIDE_FILE", "SIDE_GRID", "SIDE_MIN_CONFIDENCE", "SideModel", "side_features", "load_side_model",
           "anatomical_side"]

SIDE_FILE = "side_model.npz"
# The crop is read at this many pixels a side: enough to see the fibula beside the tibia.
SIDE_GRID = 32
# The side is given when the model is at least this sure of it (val: see weights/manifest.json).
SIDE_MIN_CONFIDENCE = 0.9


def side_features(crops: list[np.ndarray]) -> np.ndarray:
    """Each square crop at SIDE_GRID pixels a side, standardised; shape = (n, SIDE_GRID**2)."""
    from PIL import Image

    out = np.empty((len(crops), SIDE_GRID * SIDE_GRID), np.float32)
    for i, c in enumerate(crops):
        small = np.asarray(Image.fromarray(np.asarray(c, np.float32), mode="F").resize((SIDE_GRID, SIDE_GRID),
                                                                                      Image.Resampling.BOX))
        out[i] = ((small - small.mean()) / (small.std() + 1e-6)).ravel()
    return out


@dataclass(frozen=True)
class SideModel:
    """coef : ndarray, shape = (SIDE_GRID**2,); the log-odds of a right knee are ``x @ coef + intercept``."""

    coef: np.ndarray
    intercept: float

    def prob_right(self, crops: list[np.ndarray]) -> np.ndarray:
        """Probability that each crop shows a right knee, shape = (n,)."""
        z = side_features(crops) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, coef=self.coef.astype(np.float32), intercept=np.float64(self.intercept))

    @classmethod
    def load(cls, path: Path) -> "SideModel":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["coef"].astype(np.float32), float(z["intercept"]))


@lru_cache(maxsize=2)
def load_side_model(weights_dir: Path | None = None) -> SideModel | None:
    """The shipped side model (sha256-checked), or None when it is missing or fails its check."""
    from kneeai.manifest import optional_path

    path = optional_path(SIDE_FILE, weights_dir, "sides come from DICOM and position only")
    return None if path is None else SideModel.load(path)


def anatomical_side(pixels: np.ndarray, model: SideModel | None = None) -> Laterality | None:
    """"R" or "L" from the knee's anatomy when the model is sure enough, else None."""
    model = model or load_side_model()
    if model is None:
        return None
    p = float(model.prob_right([pixels])[0])
    if p >= SIDE_MIN_CONFIDENCE:
        return "R"
    if p <= 1 - SIDE_MIN_CONFIDENCE:
        return "L"
    return None
