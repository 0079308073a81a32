"""Intake: bytes in, :class:`~kneeai.schemas.Radiograph` out.

``load_radiograph`` tells DICOM from PNG/JPEG/WebP/TIFF by content (``sniff``), then hands the
bytes to ``dicom.read_dicom`` or ``images.read_image``.
"""
from kneeai.io.dicom import has_burned_in_annotation
from kneeai.io.intake import RadiographSource, load_radiograph
from kneeai.io.sniff import sniff_format

__all__ = ["load_radiograph", "RadiographSource", "sniff_format", "has_burned_in_annotation"]
