"""How loose is a square knee crop? Its scale against the joint-centred standard that the film path
cuts (1.0: a box of the standard side; 1.4: the knee's box is 1/1.4 of the crop's side).

Clinics crop knees their own way, and a square crop is otherwise graded as given, so a looser crop
shows the grader a smaller knee: on knee-films-dev a crop 1.4 times looser than the film path's box
kept the film's grade for 74% of knees (``python -m kneeai.bench crops``). The joint scorer's
features (:mod:`kneeai.grading.joint_scorer`, one pass of a network the crop path runs anyway) say
how loose a crop is: a ridge regression of the log scale on them
(:mod:`kneeai.training.framing_fit`), fitted on dev-film knees cut at known scales and on OAI crops
(scale 1, and zoomed in). A crop read as looser than :data:`LOOSE_THRESHOLD` is cut again to its
centred square of side / scale (:func:`kneeai.grading.centre.crop_box`). Results and limits:
``docs/film_path.md``, "Looser square crops".
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["FRAMING_FILE", "LOOSE_THRESHOLD", "FramingModel", "load_framing", "crop_scale"]

log = logging.getLogger(__name__)

FRAMING_FILE = "framing.npz"
# Scale above which a crop is cut again. Held-out dev films: 93% of crops looser than 1.3 read above
# it and 2% of those tighter than 1.1; no OAI val crop does (docs/film_path.md).
LOOSE_THRESHOLD = 1.2


@dataclass(frozen=True)
class FramingModel:
    """log(scale) = ((features - mean) / scale) . coef + intercept, for the scorer it was fitted on."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    scorer_model_id: str
    scorer_sha256: str

    def scales(self, feats: np.ndarray) -> np.ndarray:
        """The crops' scales from their joint-scorer features, shape = (n,)."""
        return np.exp(((np.asarray(feats, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, mean=self.mean, scale=self.scale, coef=self.coef, intercept=np.float64(self.intercept),
                            scorer_model_id=np.str_(self.scorer_model_id), scorer_sha256=np.str_(self.scorer_sha256))

    @classmethod
    def load(cls, path: Path) -> "FramingModel":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["mean"].astype(np.float64), z["scale"].astype(np.float64), z["coef"].astype(np.float64),
                       float(z["intercept"]), str(z["scorer_model_id"]), str(z["scorer_sha256"]))


@lru_cache(maxsize=2)
def load_framing(weights_dir: Path | None = None):
    """(joint scorer, framing model), both sha256-checked and fitted for each other, or None: then
    square crops are graded as given."""
    from kneeai.errors import KneeAIError
    from kneeai.grading.joint_scorer import load_joint_scorer
    from kneeai.manifest import load_manifest, verified_path

    scorer = load_joint_scorer(weights_dir)
    if scorer is None or FRAMING_FILE not in load_manifest(weights_dir):
        return None
    try:
        path, _ = verified_path(FRAMING_FILE, weights_dir)
    except KneeAIError as exc:
        log.warning("Framing model not usable (%s): square crops are graded as given.", exc.key)
        return None
    model = FramingModel.load(path)
    if (model.scorer_model_id, model.scorer_sha256) != (scorer.info.model_id, scorer.info.sha256):
        log.warning("%s was fitted for %s, not the scorer %s: square crops are graded as given.", FRAMING_FILE,
                    model.scorer_model_id, scorer.info.model_id)
        return None
    return scorer, model


def crop_scale(pixels: np.ndarray) -> float | None:
    """The scale of a square knee crop (the model input, float [0, 1]), or None without a model."""
    from kneeai.grading.gate import features

    found = load_framing()
    if found is None:
        return None
    scorer, model = found
    return float(model.scales(features(scorer, [pixels]))[0])
