"""How loose is a square knee crop? Its scale against the joint-centred standard that the film path
cuts (1.0: a box of the standard side; 1.4: the knee's box is 1/1.4 of the crop's side).

Clinics crop knees their own way, and a square crop is otherwise graded as given, so a looser crop
shows the grader a smaller knee: on knee-films-dev a crop 1.4 times looser than the film path's box
kept the film's grade for 74% of knees (``python -m kneeai.bench crops``). A small gradient-boosted
tree ensemble reads the log scale off cheap image statistics of the crop at 64 x 64 (its row and
column means, spreads and edge strengths, and a 16 x 16 thumbnail: :func:`framing_features`, no
network pass), fitted on dev-film knees cut at known scales and on OAI crops (scale 1, and zoomed
in) by :mod:`kneeai.training.framing_fit`. A crop read as looser than :data:`LOOSE_THRESHOLD` is cut
again to its centred square of side / scale (:func:`kneeai.grading.centre.crop_box`). Results and
limits: ``docs/film_path.md``, "Looser square crops".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["FRAMING_FILE", "FRAMING_SIDE", "LOOSE_THRESHOLD", "framing_features", "FramingModel", "load_framing",
           "crop_scale"]

FRAMING_FILE = "framing.npz"
# The crop is read at this side (area average), standardised to zero mean and unit spread.
FRAMING_SIDE = 64
# Scale above which a crop is cut again. Held-out dev films (each half, fitted on the other): 94-95% of
# crops looser than 1.3 read above it and 0.4-2.6% of those tighter than 1.1; no OAI val crop does
# (docs/film_path.md).
LOOSE_THRESHOLD = 1.2


def framing_features(crops) -> np.ndarray:
    """Image statistics of knee crops (each a square float array, any side), shape = (n, 448): the
    row and column means and spreads, the mean absolute step between neighbouring columns and rows,
    and a 16 x 16 thumbnail, of each crop at FRAMING_SIDE standardised."""
    from PIL import Image

    x = np.stack([np.asarray(Image.fromarray(np.asarray(c, np.float32), mode="F").resize(
        (FRAMING_SIDE, FRAMING_SIDE), Image.Resampling.BOX), np.float32) for c in crops])
    x = (x - x.mean((1, 2), keepdims=True)) / x.std((1, 2), keepdims=True).clip(1e-6)
    n, k = len(x), FRAMING_SIDE // 16
    thumb = x.reshape(n, 16, k, 16, k).mean((2, 4)).reshape(n, -1)
    return np.concatenate([x.mean(1), x.mean(2), x.std(1), x.std(2), np.abs(np.diff(x, axis=2)).mean(1),
                           np.abs(np.diff(x, axis=1)).mean(2), thumb], 1)


@dataclass(frozen=True)
class FramingModel:
    """A gradient-boosted regression tree ensemble of the log scale, as flat node arrays (every
    tree's nodes one after the other; ``left`` and ``right`` index into them; a sample goes left
    where its feature is at most the threshold). Evaluated here with numpy, so the shipped file is
    plain arrays, not a pickle of the library that fitted it."""

    baseline: float
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray

    def log_scales(self, feats: np.ndarray) -> np.ndarray:
        """The crops' log scales from their :func:`framing_features`, shape = (n,)."""
        x = np.asarray(feats, np.float64)
        out = np.full(len(x), self.baseline)
        for i in range(len(x)):
            node = self.roots.copy()
            while True:
                inner = ~self.leaf[node]
                if not inner.any():
                    break
                at = node[inner]
                go_left = x[i, self.feature[at]] <= self.threshold[at]
                node[inner] = np.where(go_left, self.left[at], self.right[at])
            out[i] += self.value[node].sum()
        return out

    def save(self, path: Path) -> None:
        np.savez_compressed(path, baseline=np.float64(self.baseline), roots=self.roots, feature=self.feature,
                            threshold=self.threshold, left=self.left, right=self.right, leaf=self.leaf, value=self.value)

    @classmethod
    def load(cls, path: Path) -> "FramingModel":
        with np.load(path, allow_pickle=False) as z:
            return cls(float(z["baseline"]), z["roots"].astype(np.int64), z["feature"].astype(np.int64),
                       z["threshold"].astype(np.float64), z["left"].astype(np.int64), z["right"].astype(np.int64),
                       z["leaf"].astype(bool), z["value"].astype(np.float64))


@lru_cache(maxsize=2)
def load_framing(weights_dir: Path | None = None) -> FramingModel | None:
    """The shipped framing model (sha256-checked), or None: then square crops are graded as given."""
    from kneeai.manifest import optional_path

    path = optional_path(FRAMING_FILE, weights_dir, "square crops are graded as given")
    return None if path is None else FramingModel.load(path)


def crop_scale(pixels: np.ndarray) -> float | None:
    """The scale of a square knee crop (float, [0, 1]), or None without a model."""
    model = load_framing()
    if model is None:
        return None
    return float(np.exp(model.log_scales(framing_features([pixels]))[0]))
