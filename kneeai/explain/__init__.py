"""Explanations: a knee crop and the grader in, a heatmap and words out. Re-exports only."""
from kneeai.explain.dispatch import METHODS, explain
from kneeai.explain.gradcam import gradcam
from kneeai.explain.occlusion import occlusion
from kneeai.explain.overlay import colormap, overlay
from kneeai.explain.regions import describe, find_joint_row, region_masks, region_shares

__all__ = [
    "METHODS",
    "explain",
    "gradcam",
    "occlusion",
    "overlay",
    "colormap",
    "describe",
    "find_joint_row",
    "region_masks",
    "region_shares",
]
