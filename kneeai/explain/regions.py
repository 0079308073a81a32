"""Where the evidence sits: shares of a saliency map in the anatomical regions of a knee crop.

The geometry is anchored on the tibiofemoral joint line, found in the image itself (crops from
other hospitals do not put the joint at a fixed row). On a crop of height H and width W, with
the joint line at row j::

      cols:   0   .2W    .4W    .6W    .8W    W
              +--------------------------------+
              |             femur              |   rows above the joint band
     j-.10H   +-----+------+------+------+-----+
              |marg.| joint|spines| joint|marg.|   joint band
     j+.08H   +-----+------+------+------+-----+
              |             tibia              |   rows below the joint band
              +--------------------------------+

- joint space: the two compartments, between the margins and the tibial spines;
- tibial spines: the intercondylar eminence in the middle fifth of the joint band;
- joint margins: the outer fifth on each side of the joint band, where marginal osteophytes grow;
- femur and tibia: everything above and below the band.

The regions partition the crop, so the shares always sum to 1. The band is generous (about
25 mm on a 140 mm crop) because a Grad-CAM map is only 7x7 cells at 224 px.

Medial and lateral depend on the knee's side. On a standard PA/AP display the viewer faces the
patient: the medial compartment of a RIGHT knee is on the image's right (towards the centre of
a bilateral film), that of a LEFT knee on the image's left. With no laterality the regions are
named by image side only; we never guess.
"""
from __future__ import annotations

import numpy as np

from kneeai.imaging.joint import find_joint_row

from kneeai.i18n import join_sentences, t
from kneeai.schemas import Explanation, Laterality, RegionShare

__all__ = [
    "REGION_NAMES",
    "BAND_ABOVE",
    "BAND_BELOW",
    "MARGIN_WIDTH",
    "SPINES_WIDTH",
    "find_joint_row",
    "region_masks",
    "region_shares",
    "densest_region",
    "focus_region",
    "describe",
]

BAND_ABOVE = 0.10
BAND_BELOW = 0.08
MARGIN_WIDTH = 0.20
SPINES_WIDTH = 0.20

# Every region suffix an Explanation may carry (i18n key: "explain.region.<name>").
REGION_NAMES: tuple[str, ...] = (
    "medial_joint_space",
    "lateral_joint_space",
    "tibial_spines",
    "medial_margin",
    "lateral_margin",
    "femur",
    "tibia",
    "image_left_joint_space",
    "image_right_joint_space",
    "image_left_margin",
    "image_right_margin",
)

# A region holding at least this share is named in the sentence (after the largest one).
MENTION_SHARE = 0.10
MAX_MENTIONED = 3
# The densest region is named too when it is not the largest and holds at least this many times
# its area's worth of evidence (1 = an even spread). Small regions with a sliver of a diffuse map
# are not named: they must also hold MENTION_SHARE.
MENTION_CONCENTRATION = 1.5


def _side_names(laterality: Laterality | None) -> dict[str, str]:
    """Map image-left/right to region names for this knee."""
    if laterality == "R":  # medial is on the image's right
        return {"left_space": "lateral_joint_space", "right_space": "medial_joint_space",
                "left_margin": "lateral_margin", "right_margin": "medial_margin"}
    if laterality == "L":
        return {"left_space": "medial_joint_space", "right_space": "lateral_joint_space",
                "left_margin": "medial_margin", "right_margin": "lateral_margin"}
    return {"left_space": "image_left_joint_space", "right_space": "image_right_joint_space",
            "left_margin": "image_left_margin", "right_margin": "image_right_margin"}


def region_masks(pixels: np.ndarray, laterality: Laterality | None, joint_row: int | None = None) -> dict[str, np.ndarray]:
    """Boolean masks, shape = pixels.shape, one per region; together they cover every pixel once.

    joint_row : the joint line; found with :func:`find_joint_row` when None.
    """
    h, w = np.asarray(pixels).shape
    j = find_joint_row(pixels) if joint_row is None else int(joint_row)
    top = max(0, j - int(round(BAND_ABOVE * h)))
    bottom = min(h, j + int(round(BAND_BELOW * h)) + 1)
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    band = (rows >= top) & (rows < bottom)
    margin = int(round(MARGIN_WIDTH * w))
    spines_lo = int(round((0.5 - SPINES_WIDTH / 2) * w))
    spines_hi = int(round((0.5 + SPINES_WIDTH / 2) * w))
    full = np.ones((h, w), bool)
    names = _side_names(laterality)
    return {
        "femur": (rows < top) & full,
        "tibia": (rows >= bottom) & full,
        names["left_margin"]: band & (cols < margin),
        names["right_margin"]: band & (cols >= w - margin),
        names["left_space"]: band & (cols >= margin) & (cols < spines_lo),
        "tibial_spines": band & (cols >= spines_lo) & (cols < spines_hi),
        names["right_space"]: band & (cols >= spines_hi) & (cols < w - margin),
    }


def region_shares(heatmap: np.ndarray, pixels: np.ndarray, laterality: Laterality | None,
                  joint_row: int | None = None) -> tuple[RegionShare, ...]:
    """Share of the map's total attribution inside each region, largest first; sums to 1.

    heatmap : ndarray, shape = pixels.shape, non-negative.
    Returns an empty tuple when the map holds no attribution at all.
    """
    m = np.clip(np.asarray(heatmap, np.float64), 0, None)
    if m.shape != np.asarray(pixels).shape:
        raise ValueError(f"heatmap shape {m.shape} differs from the crop's {np.asarray(pixels).shape}")
    total = m.sum()
    if total <= 0:
        return ()
    shares = [RegionShare(region=name, share=float(m[mask].sum() / total), area=float(mask.mean()))
              for name, mask in region_masks(pixels, laterality, joint_row).items()]
    return tuple(sorted(shares, key=lambda r: -r.share))


def densest_region(regions: tuple[RegionShare, ...]) -> RegionShare | None:
    """The region where the evidence is densest for its size, if it is dense enough to name."""
    named = [r for r in regions if r.share >= MENTION_SHARE and r.concentration >= MENTION_CONCENTRATION]
    return max(named, key=lambda r: r.concentration, default=None)


def focus_region(regions: tuple[RegionShare, ...]) -> RegionShare | None:
    """The one place to point a patient to: the densest region if one stands out, else the largest."""
    return densest_region(regions) or (regions[0] if regions else None)


def describe(explanation: Explanation, lang: str) -> str:
    """Where the evidence sits, in words, e.g. "Most of the evidence (46%) sits in the medial
    joint space; 22% in the lateral joint margin (osteophytes)."."""
    regions = explanation.regions
    if not regions:
        return t("explain.sentence.no_evidence", lang)
    first = regions[0]
    lead_key = "explain.sentence.most" if first.share >= 0.5 else "explain.sentence.largest"
    parts = [t(lead_key, lang, pct=round(100 * first.share), region=t(f"explain.region.{first.region}", lang))]
    for r in regions[1:MAX_MENTIONED]:
        if r.share >= MENTION_SHARE:
            parts.append(t("explain.sentence.more", lang, pct=round(100 * r.share), region=t(f"explain.region.{r.region}", lang)))
    sentences = [t("explain.sentence.separator", lang).join(parts) + t("explain.sentence.end", lang)]
    dense = densest_region(regions)
    if dense is not None and dense.region != first.region:
        sentences.append(t("explain.sentence.densest", lang, region=t(f"explain.region.{dense.region}", lang),
                           times=f"{dense.concentration:.1f}"))
    if any(r.region.startswith("image_") for r in regions):
        sentences.append(t("explain.sentence.sides_unknown", lang))
    return join_sentences(sentences, lang)
