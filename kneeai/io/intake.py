"""The one entry point of intake: a path, bytes or an open file in, a Radiograph out.

Whatever goes wrong inside pydicom or Pillow leaves as one of our own errors (with an i18n key),
so the UI and the CLI can say what happened in the user's language.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Union

from kneeai.errors import ImageTooLarge, KneeAIError, UnreadableImage
from kneeai.io.sniff import IMAGE_FORMATS, sniff_format
from kneeai.schemas import Radiograph

__all__ = ["load_radiograph", "RadiographSource"]

RadiographSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


def load_radiograph(source: RadiographSource) -> Radiograph:
    """Read a radiograph from DICOM, PNG, JPEG, WebP or TIFF, telling them apart by content.

    Parameters
    ----------
    source : a path, the file's bytes, or a binary file-like object (read from its start when
        it can seek, e.g. Streamlit's UploadedFile).

    Returns
    -------
    Radiograph
        ``pixels`` float32 in [0, 1] with bone bright, ``sha256`` of the raw bytes.

    Raises
    ------
    KneeAIError
        Only our own types: UnreadableImage (empty, unrecognised, truncated, undecodable, zero
        window), NoPixelData, UnsupportedCodec, UnsupportedPhotometric, ImageTooLarge.
    """
    data = _read_bytes(source)
    if not data:
        raise UnreadableImage("error.empty_file")
    sha = hashlib.sha256(data).hexdigest()
    fmt = sniff_format(data)
    if fmt is None:
        raise UnreadableImage("intake.error.unrecognised")
    try:
        if fmt in IMAGE_FORMATS:
            from kneeai.io.images import read_image

            return read_image(data, fmt, sha)
        from kneeai.io.dicom import read_dicom

        return read_dicom(data, sha, bare=(fmt == "dicom_bare"))
    except KneeAIError:
        raise
    except MemoryError as exc:
        raise UnreadableImage("intake.error.out_of_memory") from exc
    except Exception as exc:  # the promise: no raw pydicom/Pillow/numpy error leaves intake
        raise UnreadableImage(detail=f"{type(exc).__name__}: {exc}") from exc
    except BaseException as exc:
        from kneeai.io.dicom import is_rust_panic

        if is_rust_panic(exc):
            raise UnreadableImage(detail=f"{type(exc).__name__}: {exc}") from exc
        raise


def _too_large(n_bytes: int) -> None:
    from kneeai.config import SETTINGS

    limit = SETTINGS.max_upload_mb * 2**20
    if n_bytes > limit:
        raise ImageTooLarge("intake.error.file_too_large", mb=round(n_bytes / 2**20, 1), limit_mb=SETTINGS.max_upload_mb)


def _read_bytes(source: RadiographSource) -> bytes:
    """The file's bytes, refused before reading when past the upload cap (the app's and the CLI's)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        _too_large(len(source))
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            _too_large(path.stat().st_size)
            return path.read_bytes()
        except OSError as exc:
            raise UnreadableImage("intake.error.cannot_open", path=str(path)) from exc
    if hasattr(source, "getvalue"):
        data = bytes(source.getvalue())
        _too_large(len(data))
        return data
    if hasattr(source, "read"):
        try:
            if getattr(source, "seekable", lambda: False)():
                source.seek(0)
            from kneeai.config import SETTINGS

            # At most one byte past the cap, so a stream cannot fill memory before it is refused.
            data = bytes(source.read(SETTINGS.max_upload_mb * 2**20 + 1))
            _too_large(len(data))
            return data
        except OSError as exc:
            raise UnreadableImage("intake.error.cannot_open", path=str(getattr(source, "name", "?"))) from exc
    raise TypeError(f"load_radiograph expects a path, bytes or a binary file object, not {type(source).__name__}")
