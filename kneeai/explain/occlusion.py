"""Occlusion (Zeiler and Fergus 2014) with captum: hide a patch, see how much the grade's
probability drops.

A 32 px patch (about 20 mm on a 140 mm crop: one compartment's joint space, or an osteophyte)
is filled with the crop's mean grey level, so the hidden area neither adds edges nor reads as
bone or air. The attribution is the drop in the temperature-scaled probability of the target
grade; only drops (evidence for the grade) are kept.

Cost is one forward pass per patch position. The default steps by a whole patch: 7x7 = 49
positions, the same grid as Grad-CAM's 7x7 map, upsampled bilinearly the same way, so the two
maps compare cell for cell and the method stays near a second on two CPU cores. A 16 px stride
(169 positions, about 3.5 times slower) gives a finer map. Unlike Grad-CAM, occlusion probes
the model from outside, so the two agreeing is some reassurance.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kneeai.explain.gradcam import normalise_map, target_grade_for
from kneeai.explain.regions import region_shares
from kneeai.schemas import Explanation, KneeCrop

if TYPE_CHECKING:  # imported when a map is made (see gradcam.py)
    import torch

__all__ = ["occlusion", "WINDOW_PX", "STRIDE_PX"]

WINDOW_PX = 32
STRIDE_PX = 32


def occlusion(crop: KneeCrop, grader, target_grade: int | None = None, window: int = WINDOW_PX,
              stride: int = STRIDE_PX, perturbations_per_eval: int = 16) -> Explanation:
    """Occlusion map of ``target_grade`` (default: the predicted grade) for one knee crop.

    window, stride : patch side and step in pixels of the 224 px crop.
    perturbations_per_eval : occluded copies per forward batch. On two cores 4-16 run in about
        1 s for the 49 positions; larger batches fall out of cache and get slower (25: 1.4 s).
    """
    import torch
    from captum.attr import LayerAttribution, Occlusion

    from kneeai.grading.model import crops_to_input

    model = grader.model
    temperature = float(getattr(grader, "temperature", 1.0))
    x = crops_to_input([crop.pixels], getattr(grader, "input_size", None))
    target = target_grade_for(grader, x) if target_grade is None else int(target_grade)

    def probability(inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(inputs) / temperature, 1)

    baseline = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    with torch.no_grad():
        attr = Occlusion(probability).attribute(
            x, sliding_window_shapes=(x.shape[1], window, window), strides=(x.shape[1], stride, stride),
            baselines=baseline, target=target, perturbations_per_eval=perturbations_per_eval,
        )
    m = attr[0].mean(0)
    if stride == window and all(s % window == 0 for s in m.shape):
        # Non-overlapping patches give a blocky map: keep one value per cell and upsample
        # bilinearly, as Grad-CAM's 7x7 map is.
        cells = m[window // 2 :: window, window // 2 :: window]
        m = LayerAttribution.interpolate(cells[None, None], tuple(m.shape), interpolate_mode="bilinear")[0, 0]
    if tuple(m.shape) != tuple(crop.pixels.shape):
        # A grader trained larger sees the crop upsampled: the map goes back to the crop's pixels.
        m = LayerAttribution.interpolate(m[None, None], tuple(crop.pixels.shape), interpolate_mode="bilinear")[0, 0]
    heat = normalise_map(m)
    return Explanation(heatmap=heat, method="occlusion", target_grade=target,
                       regions=region_shares(heat, crop.pixels, crop.laterality))
