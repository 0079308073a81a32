"""The side of each knee read off the film's R / L marker.

Radiographers put a lead letter (or the viewer burns in a boxed letter) on the patient's right or
left side of the film. Where the DICOM header does not say which knee is which, that letter is the
film's own statement of it: an "R" on the viewer's left of a bilateral film confirms the usual
display (the patient's right knee on the viewer's left), an "R" on the viewer's right says the film
is shown the other way round (a PA film, or an image mirrored on export), and a lone letter on a
single-knee film names that knee. A mirrored letter (a marker read through the cassette) names the
same side: it is where the letter stands that counts, not which way it faces.

The reader is a small fully convolutional network (:data:`MARKER_FILE`, ONNX) over the film at
:data:`MARKER_SIDE` pixels: a heatmap of "R" and one of "L" letter centres on a grid of
:data:`MARKER_STRIDE` pixels. It was trained only on letters rendered here (many fonts, boxed or
bare, bright or dark, tilted, mirrored) pasted on knee images beside other text, and is measured on
the real markers of ``knee-films-dev`` it never saw (``python -m kneeai.training.marker_fit``,
``docs/marker.md``). Without the shipped file, or where no letter is read clearly, the side comes
from the knee's position or anatomy as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kneeai.imaging.preprocess import normalize_intensity_array
from kneeai.schemas import Laterality

__all__ = ["Marker", "MarkerReader", "MARKER_FILE", "MARKER_SIDE", "MARKER_STRIDE", "MARKER_LETTERS",
           "MARKER_THRESHOLD", "MIDLINE_MARGIN", "MIN_READ_SIDE", "SWAP_MIN_SCORE", "marker_input", "decode_markers", "sides_from_markers",
           "load_marker_reader", "read_markers"]

MARKER_FILE = "marker_reader.onnx"
# The film is read with its long side this many pixels: a marker letter 2-8% of the film's long
# side is then 10-40 pixels high, the range the reader was trained on.
MARKER_SIDE = 512
MARKER_STRIDE = 8
# The reader's output channels, in order.
MARKER_LETTERS: tuple[Laterality, ...] = ("R", "L")
# A heatmap peak this high is a letter (docs/marker.md: chosen on rendered letters, checked on the
# dev films' real markers).
MARKER_THRESHOLD = 0.5
# Letters that say a film is shown mirrored (the patient's right knee on the viewer's right) overrule
# its position only when the clearest of them peaks this high: a swap is a strong claim, and on the dev
# films a speck in a corner once read as an R at 0.54 (OP122 at half size) and would have swapped a
# film shown the usual way. Weaker letters leave the position's sides (as without a reader).
SWAP_MIN_SCORE = 0.7
# Images smaller than this (long side, pixels) are not read: knee crops cut tight, like the OAI's
# 224-pixel ones, have no room for a marker, and a batch of them should not pay for the reading.
MIN_READ_SIDE = 256
# On a bilateral film a letter this close to the midline between the knees (as a share of half the
# distance between them) says nothing of which knee it belongs to: the dev films' hospital puts its
# "L" in the gap between the legs, a third of the way from the right knee's centre to the left's.
MIDLINE_MARGIN = 0.5


@dataclass(frozen=True)
class Marker:
    """A letter read off a film: which, its centre in the film's pixels, and the peak's height."""

    letter: Laterality
    row: float
    col: float
    score: float


def marker_input(pixels: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """A film (H, W), any range -> the reader's input (1, 1, h, w) float32 in [-0.5, 0.5] and the
    film pixels per input pixel down and across. The film is resized (area average) so its long
    side is :data:`MARKER_SIDE` and each side a whole number of :data:`MARKER_STRIDE` cells (the
    aspect moves by under 1%, no padding: the mirror image of the input is then the input of the
    mirrored film, to resampling's rounding), and stretched between its 1st and 99th percentiles. The one home of this
    convention, for training and reading."""
    from PIL import Image

    h, w = pixels.shape
    f = MARKER_SIDE / max(h, w)
    nh, nw = (max(int(round(n * f / MARKER_STRIDE)), 1) * MARKER_STRIDE for n in (h, w))
    small = np.asarray(Image.fromarray(np.asarray(pixels, np.float32), "F").resize((nw, nh), Image.Resampling.BOX))
    return (normalize_intensity_array(small[None])[0] - 0.5)[None, None], (h / nh, w / nw)


def decode_markers(logits: np.ndarray, scale: float | tuple[float, float],
                   threshold: float = MARKER_THRESHOLD) -> list[Marker]:
    """The reader's output (2, G, G') -> the letters above ``threshold`` in film pixels (``scale``:
    film pixels per input pixel, one for both axes or down and across), best first. A cell that
    peaks in both channels is the higher one's letter."""
    sy, sx = (scale, scale) if np.isscalar(scale) else scale
    heat = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    best = heat.max(0)
    g0, g1 = best.shape
    padded = np.pad(best, 1, constant_values=-1.0)
    local_max = np.max(np.stack([padded[1 + dr : 1 + dr + g0, 1 + dc : 1 + dc + g1]
                                 for dr in (-1, 0, 1) for dc in (-1, 0, 1)]), axis=0)
    found = []
    for r, c in np.argwhere((best >= local_max) & (best >= threshold)).tolist():
        k = int(np.argmax(heat[:, r, c]))
        found.append(Marker(MARKER_LETTERS[k], (r + 0.5) * MARKER_STRIDE * sy, (c + 0.5) * MARKER_STRIDE * sx,
                            float(heat[k, r, c])))
    return sorted(found, key=lambda m: -m.score)


def sides_from_markers(markers: list[Marker], knee_cols: list[float]) -> list[Laterality] | None:
    """The side of each knee (centre columns from the viewer's left) that the letters say, or None
    where they say nothing clear: no letter, letters that disagree, or only letters on the midline.

    One knee: the one letter read (both letters read: None). Two knees: each letter off the midline
    votes for the usual display (R on the viewer's left, L on the right) or the mirrored one; the
    mirrored one only where its clearest letter reaches :data:`SWAP_MIN_SCORE`."""
    if not markers or len(knee_cols) not in (1, 2):
        return None
    if len(knee_cols) == 1:
        letters = {m.letter for m in markers}
        return [letters.pop()] if len(letters) == 1 else None
    left, right = sorted(knee_cols)
    mid, half = (left + right) / 2, max((right - left) / 2, 1.0)
    voters = [m for m in markers if abs(m.col - mid) >= MIDLINE_MARGIN * half]
    votes = {(m.letter == "R") == (m.col < mid) for m in voters}
    if len(votes) != 1:
        return None
    if votes.pop():
        return ["R", "L"]
    return ["L", "R"] if max(m.score for m in voters) >= SWAP_MIN_SCORE else None


@dataclass(frozen=True)
class MarkerReader:
    session: object  # onnxruntime.InferenceSession
    model_id: str

    def __call__(self, pixels: np.ndarray, threshold: float = MARKER_THRESHOLD) -> list[Marker]:
        return decode_markers(self.logits(pixels), marker_input(pixels)[1], threshold)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """The heatmap logits (2, G, G) of the film, averaged with those of its mirror image mapped
        back: a letter reads the same whichever way the film is shown, so the sides a film's
        markers give turn over when the film is mirrored."""
        x, _ = marker_input(pixels)
        both = self.session.run(None, {self.session.get_inputs()[0].name: np.concatenate([x, x[..., ::-1]])})[0]
        return (both[0] + both[1][..., ::-1]) / 2


@lru_cache(maxsize=2)
def load_marker_reader(weights_dir: Path | None = None) -> MarkerReader | None:
    """The shipped marker reader (sha256-checked), or None when it is not shipped or not usable."""
    from kneeai.grading.runtime import shipped_session

    found = shipped_session(MARKER_FILE, weights_dir, "sides come from the header, position or anatomy")
    return None if found is None else MarkerReader(*found)


def read_markers(pixels: np.ndarray) -> list[Marker] | None:
    """The R / L letters the shipped reader finds on a film (may be empty), or None without a reader
    or for an image under :data:`MIN_READ_SIDE` pixels."""
    if max(pixels.shape) < MIN_READ_SIDE:
        return None
    reader = load_marker_reader()
    return None if reader is None else reader(pixels)
