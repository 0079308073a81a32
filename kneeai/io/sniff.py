"""Tell a file's format from its first bytes, never from its name.

A PNG renamed ``.dcm`` (or a DICOM saved as ``.jpg``) is common after files pass through e-mail
and PACS exports, so the name is ignored.
"""
from __future__ import annotations

from typing import Literal

__all__ = ["Format", "sniff_format", "IMAGE_FORMATS", "IMAGE_SUFFIXES", "PICTURE_SUFFIXES"]

Format = Literal["dicom", "dicom_bare", "png", "jpeg", "webp", "tiff"]
IMAGE_FORMATS: tuple[Format, ...] = ("png", "jpeg", "webp", "tiff")
# File names a folder search picks up (the format itself is still told from the bytes); DICOM
# files often have no suffix at all.
PICTURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"})
IMAGE_SUFFIXES = PICTURE_SUFFIXES | {".dcm", ".dicom", ""}

_MAGIC: tuple[tuple[bytes, Format], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
# A Part 10 file written without its 128-byte preamble, or a bare dataset, starts with a tag in
# group 0002 (file meta) or 0008 (identifying the instance); we only try such bytes as DICOM.
_BARE_DICOM_GROUPS = (b"\x02\x00", b"\x08\x00")


def sniff_format(data: bytes) -> Format | None:
    """The format of ``data`` from its magic bytes, or None when it is none we read.

    ``"dicom_bare"`` means "no preamble, could be DICOM": the reader must confirm it.
    """
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[128:132] == b"DICM":
        return "dicom"
    if data[:2] in _BARE_DICOM_GROUPS and len(data) >= 8:
        return "dicom_bare"
    return None
