"""Knee crops: from a Radiograph and a box to the model's square input."""
from __future__ import annotations

import numpy as np

from kneeai.config import SETTINGS
from kneeai.schemas import CropBox, KneeCrop, Laterality, Radiograph

__all__ = ["resample_square", "resample_region", "crop_knee", "shifted_crops", "box_for_physical_size", "square_box"]


def _resample(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.asarray(pixels, dtype=np.float32), mode="F")
    shrinking = img.size[1] > shape[0] and img.size[0] > shape[1]
    method = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BILINEAR
    return np.asarray(img.resize((shape[1], shape[0]), method), dtype=np.float32).clip(0, 1)


def resample_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D float image to (size, size) with antialiasing (Pillow, float mode)."""
    return _resample(pixels, (size, size))


def _region(rad: Radiograph, box: CropBox, reflect_rows: bool = False) -> np.ndarray:
    # Pad with the edge value where the box leaves the film; with ``reflect_rows``, rows above and
    # below are the image's own rows mirrored (see crop_knee).
    h, w = rad.shape
    top, left = box.top, box.left
    pad = max(0, -top, -left, top + box.height - h, left + box.width - w)
    if not pad:
        return rad.pixels[top : top + box.height, left : left + box.width]
    src = rad.pixels
    if reflect_rows:
        src = np.pad(src, ((pad, pad), (0, 0)), mode="reflect" if src.shape[0] > 1 else "edge")
        src = np.pad(src, ((0, 0), (pad, pad)), mode="edge")
    else:
        src = np.pad(src, pad, mode="edge")
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


def crop_knee(rad: Radiograph, box: CropBox | None = None, laterality: Laterality | None = None,
              reflect_rows: bool = False) -> KneeCrop:
    """Cut ``box`` out of ``rad`` (the whole image when None), padding with the edge value where
    the box leaves the film, and resample to the model input.

    ``reflect_rows``: rows above and below the image are its own rows mirrored instead. A wide knee
    crop cut tight above and below the joint (as some clinics cut them) is graded as a square of
    its width; mirrored, the missing shafts look like bone going on, as the grader's training
    augmentation pads a zoomed-out knee, where the edge value draws streaks that the gate refuses as
    not a knee (docs/film_path.md, "Wide crops cut tight")."""
    size = SETTINGS.input_size
    lat = laterality or rad.laterality
    region = rad.pixels if box is None else _region(rad, box, reflect_rows)
    mm_pp = None
    if rad.spacing_mm is not None:
        mm_pp = float(region.shape[0] * rad.spacing_mm[0] / size)
    return KneeCrop(pixels=resample_square(region, size), laterality=lat, box=box, source_sha256=rad.sha256, mm_per_pixel=mm_pp)


def shifted_crops(rad: Radiograph, box: CropBox, step: int, shifts, laterality: Laterality | None = None) -> list[KneeCrop]:
    """Crops of ``box`` moved by ``(rows, columns)`` multiples of ``step`` of the model input's
    pixels (``step / input_size`` of the box's side), each as :func:`crop_knee` would cut it.

    They are slices of one resampled view of the box and its surround rather than one resampling of
    the film each: for the nine boxes of the pipeline's nudged grid that is one Lanczos pass instead
    of nine. A slice is where ``crop_knee`` would cut the moved box to within the rounding of the box
    to whole film pixels, which ``crop_knee`` does and the view does not.
    """
    from PIL import Image

    size = SETTINGS.input_size
    reach = step * max(max(abs(r), abs(c)) for r, c in shifts)
    gy, gx = reach * box.height / size, reach * box.width / size  # the reach in film pixels
    top, left = int(np.floor(box.top - gy)), int(np.floor(box.left - gx))
    outer = CropBox(top, left, int(np.ceil(box.top + box.height + gy)) - top, int(np.ceil(box.left + box.width + gx)) - left)
    src = Image.fromarray(np.asarray(_region(rad, outer), dtype=np.float32), mode="F")
    x0, y0 = box.left - gx - left, box.top - gy - top
    view_side = size + 2 * reach
    view = np.asarray(src.resize((view_side, view_side), Image.Resampling.LANCZOS,
                                 box=(x0, y0, x0 + box.width + 2 * gx, y0 + box.height + 2 * gy)), dtype=np.float32).clip(0, 1)
    lat = laterality or rad.laterality
    mm_pp = float(box.height * rad.spacing_mm[0] / size) if rad.spacing_mm is not None else None
    out = []
    for r, c in shifts:
        y, x = reach + r * step, reach + c * step
        moved = CropBox(box.top + round(r * step * box.height / size), box.left + round(c * step * box.width / size),
                        box.height, box.width)
        out.append(KneeCrop(pixels=np.ascontiguousarray(view[y : y + size, x : x + size]), laterality=lat, box=moved,
                            source_sha256=rad.sha256, mm_per_pixel=mm_pp))
    return out
