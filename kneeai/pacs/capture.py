"""The boxes and the Grad-CAM heatmaps drawn on the film, as a DICOM Secondary Capture image
(highdicom), in the film's study and referencing it.

The picture is the film (at most ``MAX_SIDE`` pixels on its longer side), each knee's heatmap
blended into its box with :func:`kneeai.explain.overlay.overlay`, the box and a label
(``#1 R KL2``), and the research-use line burned in (BurnedInAnnotation YES).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kneeai.pipeline import GradedKnee
from kneeai.schemas import Explanation, Radiograph

__all__ = ["OVERLAY_SERIES_DESCRIPTION", "MAX_SIDE", "overlay_pixels", "build_overlay"]

OVERLAY_SERIES_DESCRIPTION = "KneeAI overlay (research use only)"
MAX_SIDE = 1024
BURNED_IN = "KneeAI - research use only - not for diagnosis"


def overlay_pixels(rad: Radiograph, graded: Sequence[GradedKnee], heatmaps: Sequence[Explanation | None],
                   max_side: int = MAX_SIDE) -> np.ndarray:
    """RGB uint8, shape = (rows, cols, 3), the film scaled to at most ``max_side``, with each
    graded knee's heatmap blended inside its box, the boxes, their labels and the research-use line."""
    from PIL import Image, ImageDraw

    from kneeai.explain.overlay import overlay
    from kneeai.imaging.draw import BOX_COLOURS

    h, w = rad.shape
    grey = np.clip(rad.pixels, 0.0, 1.0).astype(np.float32)
    rgb = np.repeat(np.rint(grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    for g, expl in zip(graded, heatmaps):
        if g.result is None or expl is None:
            continue
        b = g.knee.box
        heat_img = Image.fromarray(expl.heatmap.astype(np.float32), mode="F")
        heat = np.asarray(heat_img.resize((b.width, b.height), Image.Resampling.BILINEAR))
        y0, x0 = max(0, b.top), max(0, b.left)
        y1, x1 = min(h, b.top + b.height), min(w, b.left + b.width)
        if y1 <= y0 or x1 <= x0:
            continue
        region = heat[y0 - b.top:y1 - b.top, x0 - b.left:x1 - b.left]
        rgb[y0:y1, x0:x1] = overlay(grey[y0:y1, x0:x1], np.clip(region, 0, 1))
    img = Image.fromarray(rgb)
    scale = min(1.0, max_side / max(h, w))
    if scale < 1:
        img = img.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    line = max(2, int(3 * max(img.size) / 900))
    for i, g in enumerate(graded):
        b = g.knee.box
        colour = BOX_COLOURS[i % len(BOX_COLOURS)]
        xy = [b.left * scale, b.top * scale, (b.left + b.width) * scale - 1, (b.top + b.height) * scale - 1]
        draw.rectangle(xy, outline=colour, width=line)
        grade = f"KL{g.result.kl_grade}" if g.result else "not graded"
        label = f"#{g.knee.index} {g.knee.laterality or '?'} {grade}"
        draw.text((xy[0] + 2 * line, xy[1] + 2 * line), label, fill=colour)
    draw.text((4, img.size[1] - 14), BURNED_IN, fill=(255, 255, 255))
    return np.asarray(img)


def build_overlay(source: Any, rad: Radiograph, graded: Sequence[GradedKnee], heatmaps: Sequence[Explanation | None], *,
                  series_number: int = 9902, instance_number: int = 1) -> Any:
    """A Secondary Capture image of :func:`overlay_pixels` in ``source``'s study, with
    ``source`` in its Source Image Sequence and the grades in Image Comments."""
    import highdicom as hd
    from pydicom.dataset import Dataset

    pixels = overlay_pixels(rad, graded, heatmaps)
    orientation = [str(v) for v in (source.get("PatientOrientation") or [])]
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=pixels, photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8, coordinate_system=hd.CoordinateSystemNames.PATIENT, series_instance_uid=hd.UID(),
        series_number=series_number, sop_instance_uid=hd.UID(), instance_number=instance_number, manufacturer="KneeAI",
        patient_orientation=tuple(orientation) if len(orientation) == 2 else ("L", "F"),
        series_description=OVERLAY_SERIES_DESCRIPTION,
    )
    if len(orientation) != 2:
        sc.PatientOrientation = None  # type 2: unknown, rather than a guess
    if "Laterality" not in sc:
        # Type 2C for a paired body part (the knee): one film may hold both, so it stays empty.
        sc.Laterality = source.get("Laterality") or None
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = [ref]
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.BurnedInAnnotation = "YES"
    sc.DerivationDescription = "Knee boxes and Grad-CAM heatmaps drawn by KneeAI on the source film"
    grades = "; ".join(f"knee {g.knee.index} {g.knee.laterality or '?'}: KL{g.result.kl_grade}"
                       for g in graded if g.result)
    model = next((g.result.model for g in graded if g.result), None)
    model_text = f"{grades}. Model {model.model_id} sha256 {model.sha256}. " if model else ""
    sc.ImageComments = model_text + "Research use only."
    return sc
