"""Knee crops: from a Radiograph and a box to the model's square input."""
from __future__ import annotations

import numpy as np

from kneeai.config import SETTINGS
from kneeai.schemas import CropBox, KneeCrop, Laterality, Radiograph

__all__ = ["resample_square", "resample_region", "crop_knee", "box_for_physical_size", "square_box"]


def _resample(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.asarray(pixels, dtype=np.float32), mode="F")
    shrinking = img.size[1] > shape[0] and img.size[0] > shape[1]
    method = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BILINEAR
    return np.asarray(img.resize((shape[1], shape[0]), method), dtype=np.float32).clip(0, 1)


def resample_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D float image to (size, size) with antialiasing (Pillow, float mode)."""
    return _resample(pixels, (size, size))


def _region(rad: Radiograph, box: CropBox) -> np.ndarray:
    # Pad with the edge value where the box leaves the film.
    h, w = rad.shape
    top, left = box.top, box.left
    pad = max(0, -top, -left, top + box.height - h, left + box.width - w)
    src = np.pad(rad.pixels, pad, mode="edge") if pad else rad.pixels
    return src[top + pad : top + pad + box.height, left + pad : left + pad + box.width]


def resample_region(rad: Radiograph, box: CropBox, shape: tuple[int, int]) -> np.ndarray:
    """``box`` of ``rad`` (edge-padded off the film) resampled to ``shape`` (rows, columns)."""
    return _resample(_region(rad, box), shape)


def box_for_physical_size(rad: Radiograph, center_row: int, center_col: int, mm: float | None = None) -> CropBox | None:
    """A square box of ``mm`` millimetres (default SETTINGS.crop_mm) around a centre, or None
    when the pixel spacing is unknown."""
    if rad.spacing_mm is None:
        return None
    mm = mm or SETTINGS.crop_mm
    h_px = int(round(mm / rad.spacing_mm[0]))
    w_px = int(round(mm / rad.spacing_mm[1]))
    return CropBox(top=center_row - h_px // 2, left=center_col - w_px // 2, height=h_px, width=w_px)


def square_box(rad: Radiograph) -> CropBox:
    """The whole image as a square box (the longer side), centred: a crop wider or taller than
    the model's square input keeps its aspect, padded at the short sides, instead of being squashed."""
    h, w = rad.shape
    side = max(h, w)
    return CropBox(top=(h - side) // 2, left=(w - side) // 2, height=side, width=side)


def crop_knee(rad: Radiograph, box: CropBox | None = None, laterality: Laterality | None = None) -> KneeCrop:
    """Cut ``box`` out of ``rad`` (the whole image when None), padding with the edge value where
    the box leaves the film, and resample to the model input."""
    size = SETTINGS.input_size
    lat = laterality or rad.laterality
    region = rad.pixels if box is None else _region(rad, box)
    mm_pp = None
    if rad.spacing_mm is not None:
        mm_pp = float(region.shape[0] * rad.spacing_mm[0] / size)
    return KneeCrop(pixels=resample_square(region, size), laterality=lat, box=box, source_sha256=rad.sha256, mm_per_pixel=mm_pp)
