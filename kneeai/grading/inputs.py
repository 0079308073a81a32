"""Knee crops -> the network's input array, in numpy.

The grading path (decode, crop, gate, ONNX Runtime) never imports PyTorch: importing it costs
about 3.5 s of a CLI run's start-up on this project's CPU, longer than grading a hundred crops.
PyTorch is loaded only for Grad-CAM, for training, for the PyTorch fallback runtime, and to resample
crops for a grader trained at another side (none is shipped). ``kneeai.grading.model.crops_to_input``
wraps this function, so the two runtimes see the very same numbers.
"""
from __future__ import annotations

import numpy as np

from kneeai.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize_intensity_array

__all__ = ["input_array"]

_MEAN = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
_STD = np.asarray(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)


def _resampled(x01: np.ndarray, size: int) -> np.ndarray:
    import torch

    t = torch.nn.functional.interpolate(torch.from_numpy(x01[:, None]), size=(size, size), mode="bilinear",
                                        align_corners=False)
    return t[:, 0].numpy()


def input_array(crops, size: int | None = None) -> np.ndarray:
    """Square grey crops in [0, 1] -> float32 (B, 3, S, S): each crop stretched between its own
    1st and 99th percentiles, resampled to ``size`` when given and different, replicated to three
    channels and standardised with the ImageNet statistics the backbone was pretrained with."""
    x = normalize_intensity_array(np.stack([np.asarray(c, np.float32) for c in crops]))
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = _resampled(x, size)
    return np.ascontiguousarray((x[:, None] - _MEAN) / _STD, dtype=np.float32)
