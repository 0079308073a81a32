"""Is a knee crop shown as a negative (bone dark, air white)?

A film exported from a viewer with its grey scale inverted, or a DICOM whose photometric
interpretation was lost on the way, reaches the grader as a negative. The grader and the gate's
feature density do not see it: an inverted val crop lands at 0.55 of the density threshold
(median; the crops as they are, 0.42), so such a knee would be graded without a word. A small
network (:mod:`kneeai.training.polarity_fit`) says which way round a crop is.

It is built to be antisymmetric: its logit for a crop is ``g(x) - g(-x)`` on the crop standardised
to zero mean and unit variance, so a crop and its negative always get opposite answers, and the
network only has to tell which of the two looks like a radiograph. Borders, gamma and windowing
are varied in training for both polarities alike, so neither a white collimation border nor a
black one decides.

The film path turns such a crop back before grading (:func:`kneeai.pipeline.upright`, wherever
it cuts a knee) and says so with the knee (``KneeCrop.inverted``): the OAI set
itself holds such negatives (84 of its 6604 train and val knees, filed like the rest), and the
grader grades them better turned back (the 14 of val: 9 right as they are, 10 turned back). A crop that
reaches the gate still a negative (a crop handed to :func:`kneeai.grading.predict.grade_knees`
directly) is refused (``gate.reason.negative``, or "not a knee" where the density already says
so) rather than graded.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["POLARITY_FILE", "POLARITY_SIDE", "NEGATIVE_THRESHOLD", "polarity_input", "standardised", "PolarityReader",
           "load_polarity", "negative_probability", "film_negative_probability"]

POLARITY_FILE = "polarity.onnx"
# The network's input side: the crop (the grader's 224 px input) averaged down 3.5x.
POLARITY_SIDE = 64
# Probability of a negative above which a crop is taken for one (turned back by upright, refused by
# the gate). Set where no knee of val or knee-films-dev comes near, as they are or under changes of
# exposure and framing, while nearly every negative is far above (docs/polarity.md).
NEGATIVE_THRESHOLD = 0.9


def polarity_input(pixels: np.ndarray) -> np.ndarray:
    """The network's input for one crop, shape = (1, 1, POLARITY_SIDE, POLARITY_SIDE): resampled
    with area averaging, then standardised (so brightness and contrast do not matter, only which
    way round the grey scale is)."""
    from PIL import Image

    x = np.asarray(pixels, np.float32)
    if x.shape != (POLARITY_SIDE, POLARITY_SIDE):
        x = np.asarray(Image.fromarray(x, mode="F").resize((POLARITY_SIDE, POLARITY_SIDE), Image.BOX), np.float32)
    return standardised(x)[None, None]


def standardised(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / max(float(x.std()), 1e-6)).astype(np.float32)


@dataclass(frozen=True)
class PolarityReader:
    session: object  # onnxruntime.InferenceSession
    model_id: str

    def __call__(self, pixels: np.ndarray) -> float:
        """The probability that ``pixels`` (a knee crop, bone bright if all is well) is a negative."""
        logit = self.session.run(None, {self.session.get_inputs()[0].name: polarity_input(pixels)})[0]
        return float(1.0 / (1.0 + np.exp(-float(np.ravel(logit)[0]))))


@lru_cache(maxsize=2)
def load_polarity(weights_dir: Path | None = None) -> PolarityReader | None:
    """The shipped polarity network (sha256-checked), or None when it is not shipped or not usable."""
    from kneeai.grading.runtime import shipped_session

    found = shipped_session(POLARITY_FILE, weights_dir, "negative images are not checked")
    return None if found is None else PolarityReader(*found)


def negative_probability(pixels: np.ndarray) -> float | None:
    """The probability that a knee crop is a negative, or None without a shipped network."""
    reader = load_polarity()
    return None if reader is None else reader(pixels)


def film_negative_probability(pixels: np.ndarray) -> float | None:
    """The probability that a whole image (a film without its blank margins, or a knee crop) is a
    negative, read from the image padded square with its edge value; None without a network.

    The network was trained on knee crops, so on a whole film it is less sure (knee-films-dev: the
    154 films as they are 0.00-0.49, turned 0.51-1.00): the pipeline uses it only to choose which
    way round to search first, and checks the knees it then finds."""
    x = np.asarray(pixels, np.float32)
    h, w = x.shape
    side = max(h, w)
    square = np.full((side, side), float(np.median(x[:, : max(1, w // 100)])), np.float32)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = x
    return negative_probability(square)
