"""Grad-CAM (Selvaraju et al. 2017) with captum's LayerGradCam on the grader's last MBConv block.

The map explains the grade the way it was computed: when the grader averages the plain and
mirrored crop (``Grader.flip_average``), Grad-CAM of the mirrored crop is mirrored back and
averaged with the plain one; otherwise the plain crop alone is explained. The 7x7 map is
upsampled bilinearly to the crop and scaled to [0, 1] (its maximum becomes 1).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kneeai.explain.regions import region_shares
from kneeai.schemas import Explanation, KneeCrop

if TYPE_CHECKING:  # PyTorch is imported when a map is made, not by whoever imports this package
    import torch
    from torch import nn

__all__ = ["gradcam", "target_grade_for", "flip_averaged", "normalise_map"]


def normalise_map(m: torch.Tensor | np.ndarray) -> np.ndarray:
    """Clip at 0 and divide by the maximum; an all-zero map stays zero."""
    a = np.clip(np.asarray(m.detach().cpu().numpy() if hasattr(m, "detach") else m, np.float32), 0, None)
    top = float(a.max()) if a.size else 0.0
    return (a / top).astype(np.float32) if top > 0 else np.zeros_like(a, np.float32)


def flip_averaged(grader) -> bool:
    return bool(getattr(grader, "flip_average", True))


def target_grade_for(grader, x: torch.Tensor) -> int:
    """The grade the grader gives ``x`` (shape = (1, 3, H, W)), computed as grading does."""
    import torch

    with torch.no_grad():
        if not flip_averaged(grader):
            return int(grader.model(x)[0].argmax())
        both = grader.model(torch.cat([x, torch.flip(x, dims=[3])]))
    return int(((both[0] + both[1]) / 2).argmax())


def gradcam(crop: KneeCrop, grader, target_grade: int | None = None, layer: nn.Module | None = None) -> Explanation:
    """Grad-CAM of ``target_grade`` (default: the predicted grade) for one knee crop.

    grader : a :class:`~kneeai.grading.weights.Grader` (``.model`` is used).
    layer : the convolutional layer to explain; default
        :func:`~kneeai.grading.model.gradcam_layer` (7x7 at 224 px).
    """
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    from kneeai.grading.model import gradcam_layer
    from kneeai.grading.model import crops_to_input

    model = grader.model
    layer = layer if layer is not None else gradcam_layer(model)
    x = crops_to_input([crop.pixels], getattr(grader, "input_size", None))
    target = target_grade_for(grader, x) if target_grade is None else int(target_grade)
    flip = flip_averaged(grader)
    with torch.enable_grad():
        attr = LayerGradCam(model, layer).attribute(torch.cat([x, torch.flip(x, dims=[3])]) if flip else x,
                                                    target=target, relu_attributions=True)
    cam = ((attr[0:1] + torch.flip(attr[1:2], dims=[3])) / 2 if flip else attr[0:1]).detach()
    heat = normalise_map(LayerAttribution.interpolate(cam, tuple(crop.pixels.shape), interpolate_mode="bilinear")[0, 0])
    return Explanation(heatmap=heat, method="gradcam", target_grade=target,
                       regions=region_shares(heat, crop.pixels, crop.laterality))
