"""PNG, JPEG, WebP and TIFF bytes in, :class:`~kneeai.schemas.Radiograph` out (via Pillow).

Grey levels: 8-bit values are divided by 255. A 16-bit PNG or TIFF does not say how many of its
bits are used (Pillow does not read PNG's sBIT), so 16- or 32-bit integer values are divided by
``2**bits - 1`` where ``bits`` is the smallest depth (at least 8) that holds the brightest pixel.
A 12-bit film saved in a 16-bit PNG (values up to 4095) thus comes out as it was meant to,
instead of 16 times too dark, while a full-range 16-bit film is divided by 65535. The minimum is
never subtracted (no min..max stretch), so black stays black; the grading stage normalises each
crop's contrast on its own anyway.

EXIF orientation is applied, colour becomes Rec. 601 luma (with a warning when the channels
really differ), alpha is dropped. Pixel spacing is unknown for these formats: a DPI field is a
print resolution, not the detector's, so it is not used.
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np

from kneeai.config import SETTINGS
from kneeai.errors import ImageTooLarge, UnreadableImage
from kneeai.io.appearance import colourfulness
from kneeai.schemas import Radiograph

__all__ = ["read_image", "PIL_FORMATS"]

# sniffed format -> the Pillow plugins allowed to open it (MPO is a camera JPEG with extra frames).
PIL_FORMATS: dict[str, tuple[str, ...]] = {
    "png": ("PNG",),
    "jpeg": ("JPEG", "MPO"),
    "webp": ("WEBP",),
    "tiff": ("TIFF",),
}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# JPEG chroma rounding leaves grey pictures saved as RGB a level or two apart per channel.
_GREY_TOLERANCE = 2.0 / 255.0


def read_image(data: bytes, fmt: str, sha256: str = "") -> Radiograph:
    """Decode an ordinary image file whose format was sniffed as ``fmt`` (see PIL_FORMATS).

    Raises
    ------
    ImageTooLarge
        when the header's width x height exceeds SETTINGS.max_pixels (checked before decoding).
    UnreadableImage
        ``intake.error.truncated_header`` when Pillow cannot parse the header,
        ``intake.error.truncated_image`` when the pixel data is cut short or corrupt.
    """
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # Our own limit below is lower than Pillow's warning threshold; its warning adds nothing.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=PIL_FORMATS[fmt])
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(pixels=_bomb_pixels(str(exc)), limit=SETTINGS.max_pixels) from exc
        except Exception as exc:
            raise UnreadableImage("intake.error.truncated_header") from exc

        width, height = img.size
        if width * height > SETTINGS.max_pixels:
            raise ImageTooLarge(pixels=width * height, limit=SETTINGS.max_pixels)
        pages = getattr(img, "n_frames", 1)
        try:
            img.load()
            img = ImageOps.exif_transpose(img)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(pixels=_bomb_pixels(str(exc)), limit=SETTINGS.max_pixels) from exc
        except Exception as exc:
            raise UnreadableImage("intake.error.truncated_image") from exc

    pixels, bits, coloured, colour_score = _to_grey(img)
    container = {"I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 32, "F": 32}.get(img.mode, 8)
    warn = []
    if pages > 1:
        warn.append("intake.warn.multipage")
    if coloured:
        warn.append("warn.colour_converted")
    fmt_name = PIL_FORMATS[fmt][0]  # exif_transpose returns a copy that has lost .format
    meta = {"Format": fmt_name, "Mode": img.mode, "Rows": str(pixels.shape[0]), "Columns": str(pixels.shape[1]),
            "BitsAllocated": str(container), "BitsStored": str(bits)}
    return Radiograph(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing_mm=None,
        laterality=None,
        source=f"{fmt_name} {container}-bit" + (f" ({bits} bits used)" if bits != container else ""),
        meta=meta,
        identifiers={},
        warnings=tuple(warn),
        sha256=sha256,
        colourfulness=colour_score,
    )


def _bomb_pixels(message: str) -> str:
    found = re.search(r"\((\d+) pixels\)", message)
    return found.group(1) if found else "?"


def _to_grey(img) -> tuple[np.ndarray, int, bool, float]:  # noqa: ANN001 - a PIL.Image.Image
    """(pixels in [0, 1], bits per sample used for scaling, had colour?, colourfulness)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img)
        if arr.ndim == 3:
            arr = arr[..., 0]
        lo = int(arr.min()) if arr.size else 0
        if lo < 0:  # signed 32-bit data has no natural range: stretch it
            return _stretch(arr), 32, False, 0.0
        bits = max(8, int(arr.max()).bit_length()) if arr.size else 8
        return (arr.astype(np.float32) / np.float32(2**bits - 1)), bits, False, 0.0
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            arr = _stretch(arr)
        return arr, 32, False, 0.0
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0, 8, False, 0.0
    if mode in ("LA", "La"):
        return np.asarray(img.getchannel(0), dtype=np.float32) / 255.0, 8, False, 0.0
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # drops alpha, resolves P/CMYK
    grey = rgb @ _LUMA
    coloured = bool(np.abs(rgb - grey[..., None]).max() > _GREY_TOLERANCE)
    # How colourful, not just whether: one coloured annotation must not make a film a photo.
    return np.clip(grey, 0.0, 1.0), 8, coloured, colourfulness(rgb) if coloured else 0.0


def _stretch(arr: np.ndarray) -> np.ndarray:
    x = np.asarray(arr, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros_like(x)
    return (x - lo) / (hi - lo)
