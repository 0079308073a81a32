"""DICOM bytes in, :class:`~kneeai.schemas.Radiograph` out.

Decoding goes through pydicom 3 and its plugins (pylibjpeg-libjpeg, -openjpeg, -rle, pyjpegls, and
imagecodecs for JPEG 2000 on several threads, see :mod:`kneeai.io.jpeg2000`),
so every transfer syntax they cover is read: implicit/explicit little endian, deflated, RLE,
JPEG baseline and lossless, JPEG-LS and JPEG 2000.

Grey levels follow the DICOM display pipeline (PS3.3 C.11): stored values -> modality LUT
(Rescale Slope/Intercept or a Modality LUT Sequence) -> VOI (a VOI LUT Sequence, else the first
Window Center/Width pair, else the data's own min..max) -> [0, 1], and MONOCHROME1 is inverted so
bone is bright. Colour (RGB, YBR_*, PALETTE COLOR) is turned into luma with a warning.

Identifying tags are copied into ``Radiograph.identifiers`` and nowhere else.

Memory is bounded before anything is unpacked: a deflated file's inflated size is measured by
streaming it through zlib (never holding it) and refused past :data:`MAX_INFLATED_BYTES`; every
codec's declared output (Rows x Columns x SamplesPerPixel x frames x BitsAllocated) is checked
against :data:`MAX_DECODED_BYTES` from the header alone. ``BurnedInAnnotation = YES`` (identifying
text in the pixels) is kept in ``meta`` with the warning ``intake.warn.burned_in_annotation``, and
:func:`has_burned_in_annotation` tells exports to ask the user first.
"""
from __future__ import annotations

import io
import warnings
import zlib
from typing import Any

import numpy as np

from kneeai.config import SETTINGS
from kneeai.errors import ImageTooLarge, NoPixelData, UnreadableImage, UnsupportedCodec, UnsupportedPhotometric
from kneeai.io.appearance import colourfulness
from kneeai.io import jpeg2000
from kneeai.schemas import Laterality, Radiograph

__all__ = ["read_dicom", "is_rust_panic", "has_burned_in_annotation", "inflated_size_at_most", "META_KEYWORDS",
           "IDENTIFYING_KEYWORDS", "SUPPORTED_PHOTOMETRIC", "MAX_DECODED_BYTES", "MAX_INFLATED_BYTES"]

# Non-identifying tags worth showing; all strings in Radiograph.meta.
META_KEYWORDS: tuple[str, ...] = (
    "Modality", "BodyPartExamined", "ViewPosition", "ImageLaterality", "Laterality", "PatientOrientation",
    "PhotometricInterpretation", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PixelSpacing", "ImagerPixelSpacing",
    "EstimatedRadiographicMagnificationFactor", "RescaleSlope", "RescaleIntercept", "WindowCenter",
    "WindowWidth", "VOILUTFunction", "PresentationLUTShape", "Manufacturer", "ManufacturerModelName",
    "SOPClassUID", "ImageType", "PresentationIntentType", "LossyImageCompression", "KVP", "BurnedInAnnotation",
)
# Identifying or linkable tags (after the DICOM basic de-identification profile, PS3.15 E.1-1).
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientSex", "PatientAge",
    "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "SeriesDate", "AcquisitionDate", "ContentDate",
    "InstitutionName", "InstitutionAddress", "StationName", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "DeviceSerialNumber", "StudyInstanceUID",
    "SeriesInstanceUID", "SOPInstanceUID",
)
SUPPORTED_PHOTOMETRIC: frozenset[str] = frozenset(
    {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR"}
)
_COLOUR = SUPPORTED_PHOTOMETRIC - {"MONOCHROME1", "MONOCHROME2"}
# Rec. 601 luma, the weighting JPEG's YCbCr and DICOM's YBR_FULL use.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_PIXEL_DATA_TAG_LE = b"\xe0\x7f\x10\x00"
# Where several installed plugins decode a syntax, the fastest first (kneeai.bench intake, 5 MP
# 12-bit film): CharLS (pyjpegls) decodes JPEG-LS ~4x faster than libjpeg, pylibjpeg-rle is ~10x
# faster than pydicom's own RLE, and Pillow's libjpeg-turbo ~4x faster for 8-bit baseline.
# pydicom's own order would otherwise decide. Any other installed plugin remains the fallback.
_PREFERRED_PLUGIN: dict[str, str] = {
    "1.2.840.10008.1.2.4.80": "pyjpegls",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.5": "pylibjpeg",  # RLE lossless
    "1.2.840.10008.1.2.4.50": "pillow",  # JPEG baseline (8-bit)
    # JPEG 2000 and HTJ2K: imagecodecs runs OpenJPEG on several threads, ~2x on 2 cores.
    **{str(syntax): jpeg2000.PLUGIN for syntax in jpeg2000.SYNTAXES},
}
# The most decoded pixel bytes one file may declare: as many as the float32 image of the largest
# film we accept (SETTINGS.max_pixels) takes, which a 16-bit grey or 8-bit colour film stays under.
MAX_DECODED_BYTES = SETTINGS.max_pixels * 4
# A deflated dataset inflates to its header plus its pixel data; 16 MB more than the pixel cap
# leaves room for any real header (overlays, private tags) while a bomb is stopped early.
MAX_INFLATED_BYTES = MAX_DECODED_BYTES + 16 * 2**20
_DEFLATED = "1.2.840.10008.1.2.1.99"
# Explicit VR little endian: these VRs have 2 reserved bytes and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_REQUIRED_PIXEL_TAGS = ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "PixelRepresentation")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read_dicom(data: bytes, sha256: str = "", bare: bool = False) -> Radiograph:
    """Decode a DICOM file held in ``data``.

    Parameters
    ----------
    data : the whole file.
    sha256 : hex digest of ``data``, carried into the result.
    bare : True when the bytes lack the preamble; they are then accepted only if they parse into
        a dataset with plausible image or instance tags.

    Raises
    ------
    UnreadableImage, NoPixelData, UnsupportedCodec, UnsupportedPhotometric, ImageTooLarge
        with keys ``intake.error.unrecognised``, ``intake.error.truncated_header``,
        ``error.truncated_pixels``, ``error.zero_window`` or ``intake.error.decode_failed``.
    """
    with warnings.catch_warnings():
        # pydicom warns (rather than fails) about damaged values, e.g. a UID with a stray byte;
        # what matters is whether the image decodes, which the checks below decide.
        warnings.simplefilter("ignore")
        return _read(data, sha256, bare)


def _deflated_offset(data: bytes) -> int | None:
    """Where the deflated dataset starts when the file meta says Deflated Explicit VR Little
    Endian, else None. Reads the group-0002 elements by hand: pydicom would inflate the rest whole."""
    pos = 132 if data[128:132] == b"DICM" else 0
    syntax = None
    while pos + 8 <= len(data) and data[pos:pos + 2] == b"\x02\x00":
        element, vr = data[pos + 2:pos + 4], data[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                return None
            length, start = int.from_bytes(data[pos + 8:pos + 12], "little"), pos + 12
        else:
            length, start = int.from_bytes(data[pos + 6:pos + 8], "little"), pos + 8
        if length == 0xFFFFFFFF:
            return None
        if element == b"\x10\x00":  # (0002,0010) Transfer Syntax UID
            syntax = data[start:start + length].rstrip(b"\x00 ").decode("ascii", "replace")
        pos = start + length
    return pos if syntax == _DEFLATED else None


def inflated_size_at_most(compressed: bytes | memoryview, limit: int, chunk: int = 1 << 20) -> int | None:
    """The raw-deflate stream's inflated size if it is at most ``limit`` bytes, else None.

    Streams through zlib holding at most ``chunk`` bytes of output at a time, so a bomb costs
    time up to ``limit`` bytes of output but no memory. A corrupt stream counts what inflated.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total, view = 0, memoryview(compressed)
    try:
        for at in range(0, len(view), chunk):
            pending = view[at:at + chunk]
            while pending:
                total += len(inflater.decompress(pending, chunk))
                if total > limit:
                    return None
                pending = inflater.unconsumed_tail
                if inflater.eof:
                    return total
        total += len(inflater.flush())
    except zlib.error:
        pass
    return total if total <= limit else None


def _check_inflated(data: bytes) -> None:
    offset = _deflated_offset(data)
    if offset is not None and inflated_size_at_most(memoryview(data)[offset:], MAX_INFLATED_BYTES) is None:
        raise ImageTooLarge("intake.error.inflated_too_large", limit_mb=MAX_INFLATED_BYTES // 2**20)


def has_burned_in_annotation(radiograph: Radiograph | None) -> bool:
    """True when the film's header says identifying text is burned into its pixels
    (``BurnedInAnnotation = YES``): an image export must then be confirmed by the user."""
    return radiograph is not None and str(radiograph.meta.get("BurnedInAnnotation", "")).strip().upper() == "YES"


def _read(data: bytes, sha256: str, bare: bool) -> Radiograph:
    from pydicom import dcmread
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    _check_inflated(data)  # before dcmread, which inflates a deflated dataset whole
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = dcmread(io.BytesIO(data), force=True)
        except Exception as exc:
            raise UnreadableImage("intake.error.unrecognised" if bare else "intake.error.truncated_header") from exc
    eof_warned = any("End of file" in str(w.message) for w in caught)

    if bare and not any(k in ds for k in ("SOPClassUID", "Modality", "Rows", "PixelData")):
        raise UnreadableImage("intake.error.unrecognised")
    file_meta = getattr(ds, "file_meta", None)
    if not bare and (file_meta is None or "TransferSyntaxUID" not in file_meta):
        # A Part 10 file always has a transfer syntax; without one the header was cut short.
        raise UnreadableImage("intake.error.truncated_header")
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        # The pixel data tag after the last element read (not inside, say, an icon sequence)
        # means the file was cut in or just before the pixel data.
        if eof_warned or data.find(_PIXEL_DATA_TAG_LE, _end_of_last_element(ds)) >= 0:
            raise UnreadableImage("error.truncated_pixels")
        if _cut_mid_element(ds, len(data)):
            raise UnreadableImage("intake.error.truncated_header")
        raise NoPixelData()
    if file_meta is None or "TransferSyntaxUID" not in file_meta:
        # A bare dataset: pydicom guessed its encoding while reading, which is all we need.
        implicit, _ = ds.original_encoding
        ds.file_meta = file_meta = FileMetaDataset()
        file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian

    tsyntax = file_meta.TransferSyntaxUID
    source = f"DICOM {tsyntax.name} {tsyntax}" if tsyntax.name != str(tsyntax) else f"DICOM {tsyntax}"
    missing = [k for k in _REQUIRED_PIXEL_TAGS if k not in ds or str(ds.get(k) if ds.get(k) is not None else "").strip() == ""]
    if missing:
        raise UnreadableImage("intake.error.missing_tags", tags=", ".join(missing))
    _check_size(ds)
    photometric = str(ds.PhotometricInterpretation).strip().upper()
    if photometric not in SUPPORTED_PHOTOMETRIC:
        raise UnsupportedPhotometric(name=photometric)
    _check_codec(tsyntax)
    frames = _int(ds.get("NumberOfFrames"), 1)

    arr = _decode_first_frame(ds, tsyntax)
    warn: list[str] = []
    if frames > 1:
        warn.append("warn.multiframe")
    if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
        warn.append("intake.warn.burned_in_annotation")
    colour_score = 0.0
    if photometric in _COLOUR:
        pixels, coloured, colour_score = _colour_to_grey(arr, ds, photometric)
        if coloured:
            warn.append("warn.colour_converted")
    else:
        pixels = _grey_pipeline(arr, ds, photometric)

    return Radiograph(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing_mm=_spacing(ds),
        laterality=_laterality(ds),
        source=source,
        meta=_strings(ds, META_KEYWORDS) | {"TransferSyntaxUID": str(tsyntax), "Format": "DICOM"},
        identifiers=_strings(ds, IDENTIFYING_KEYWORDS),
        warnings=tuple(warn),
        sha256=sha256,
        colourfulness=colour_score,
    )


def _end_of_last_element(ds: Any) -> int:
    """File offset just past the last top-level element read, or 0 when it cannot be told."""
    from pydicom.dataelem import RawDataElement

    if not len(ds):
        return 0
    last = ds.get_item(max(ds.keys()))
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF or last.value_tell is None:
        return 0
    return int(last.value_tell + last.length)


def _cut_mid_element(ds: Any, size: int) -> bool:
    """True when the last element read claims more bytes than the file has, or stray bytes
    (a partial tag) follow it: the file ends inside an element."""
    from pydicom.dataelem import RawDataElement

    if not len(ds):
        return True
    last = ds.get_item(max(ds.keys()))
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF or last.value_tell is None:
        return False
    end = last.value_tell + last.length
    return end > size or 0 < size - end < 8


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _check_size(ds: Any) -> None:
    """Refuse from the header alone, before a byte of pixel data is decoded."""
    rows, cols = _int(ds.get("Rows"), 0), _int(ds.get("Columns"), 0)
    frames = max(_int(ds.get("NumberOfFrames"), 1), 1)
    if rows <= 0 or cols <= 0:
        raise UnreadableImage("intake.error.missing_tags", tags="Rows, Columns")
    pixels = rows * cols * frames
    if pixels > SETTINGS.max_pixels:
        raise ImageTooLarge(pixels=pixels, limit=SETTINGS.max_pixels)
    # What any codec will hand back: every sample of every frame at BitsAllocated.
    samples = max(_int(ds.get("SamplesPerPixel"), 1), 1)
    bits = max(_int(ds.get("BitsAllocated"), 16), 1)
    declared = rows * cols * samples * frames * bits // 8
    if declared > MAX_DECODED_BYTES:
        raise ImageTooLarge("intake.error.declared_too_large", mb=declared // 2**20, rows=rows, cols=cols, samples=samples,
                            frames=frames, bits=bits, limit_mb=MAX_DECODED_BYTES // 2**20)


def _check_codec(tsyntax: Any) -> None:
    from pydicom.pixels import get_decoder

    jpeg2000.register()
    name = tsyntax.name if tsyntax.name != str(tsyntax) else str(tsyntax)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise UnsupportedCodec(name=name) from None
    if not decoder.is_available:
        raise UnsupportedCodec(name=name)


def _decode_first_frame(ds: Any, tsyntax: Any) -> np.ndarray:
    from pydicom.pixels import get_decoder, pixel_array
    from pydicom.pixels.utils import get_expected_length

    if not tsyntax.is_encapsulated and "PixelData" in ds:
        # pydicom accepts padding after the last frame but not missing bytes; say which it is.
        if len(ds.PixelData) < get_expected_length(ds, "bytes"):
            raise UnreadableImage("error.truncated_pixels")
    plugin = _PREFERRED_PLUGIN.get(str(tsyntax), "")
    if plugin and plugin not in get_decoder(tsyntax).available_plugins:
        plugin = ""
    try:
        # pydicom masks the unused high bits (Bits Stored < Bits Allocated) and sign-extends
        # signed data itself; tests/unit/test_io_dicom.py holds it to that.
        try:
            return pixel_array(ds, index=0, decoding_plugin=plugin)
        except Exception:
            if not plugin:
                raise
            return pixel_array(ds, index=0)  # let every other installed plugin try
    except Exception as exc:
        raise UnreadableImage("intake.error.decode_failed", codec=tsyntax.name) from exc
    except BaseException as exc:
        if is_rust_panic(exc):
            raise UnreadableImage("intake.error.decode_failed", codec=tsyntax.name) from exc
        raise


def is_rust_panic(exc: BaseException) -> bool:
    """Decoders written in Rust (pylibjpeg-rle) turn a panic on corrupt data into
    ``pyo3_runtime.PanicException``, a BaseException; it means bad data, not an interrupt."""
    return type(exc).__name__ == "PanicException"


def _grey_pipeline(arr: np.ndarray, ds: Any, photometric: str) -> np.ndarray:
    """Stored values -> modality LUT -> VOI -> [0, 1], bone bright."""
    from pydicom.pixels.processing import apply_modality_lut, apply_voi

    if arr.ndim == 3:  # a multi-sample grey image is not a thing; take the first sample
        arr = arr[..., 0]
    values = apply_modality_lut(arr, ds)
    if ds.get("VOILUTSequence"):
        if not np.issubdtype(values.dtype, np.integer):
            values = np.rint(values).astype(np.int64)
        out = apply_voi(values, ds, index=0)
        lut = _voi_lut_table(ds)
        lo, hi = float(lut.min()), float(lut.max())
        out = _stretch(out, lo, hi)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center = _first_float(ds.WindowCenter)
        width = _first_float(ds.WindowWidth)
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
        out = _window(values, center, width, function)
    else:
        out = _stretch(values, float(values.min()), float(values.max()))
    if photometric == "MONOCHROME1":
        out = 1.0 - out
    return out


def _voi_lut_table(ds: Any) -> np.ndarray:
    """The first VOI LUT's whole output, by pushing its input domain through pydicom's apply_voi."""
    from pydicom.pixels.processing import apply_voi

    entries, first, _ = (int(v) for v in ds.VOILUTSequence[0].LUTDescriptor)
    entries = entries or 2**16
    return apply_voi(np.arange(first, first + entries, dtype=np.int64), ds, index=0)


def _first_float(value: Any) -> float:
    """Window Center/Width may be multi-valued (alternative views): the first is the default."""
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0]
    return float(value)


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """VOI window onto [0, 1] (PS3.3 C.11.2.1.2 and C.11.2.1.3).

    Written here rather than via pydicom's apply_windowing because that maps onto the stored
    bit range, which flips with a negative rescale slope; we want [0, 1] directly.
    """
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise UnreadableImage("error.zero_window")
    x = np.asarray(values, dtype=np.float32)
    if function == "SIGMOID":
        # 1 / (1 + exp(-4 (x - c) / w)), in the tanh form that cannot overflow.
        return (0.5 * (1.0 + np.tanh(2.0 * (x - center) / width))).astype(np.float32)
    if function == "LINEAR_EXACT":
        c, w = center, width
    else:  # LINEAR, also the default for unknown functions
        c, w = center - 0.5, width - 1.0
        if w == 0:
            return (x > c).astype(np.float32)
    return np.clip((x - c) / w + 0.5, 0.0, 1.0).astype(np.float32)


def _stretch(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x = np.asarray(values, dtype=np.float32)
    if hi - lo <= 0:
        return np.zeros(x.shape, dtype=np.float32)
    return np.clip((x - np.float32(lo)) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)


def _colour_to_grey(arr: np.ndarray, ds: Any, photometric: str) -> tuple[np.ndarray, bool, float]:
    """Luma of a colour image, stretched to [0, 1]; whether it had any colour, and how much
    (``kneeai.io.appearance.colourfulness``)."""
    from pydicom.pixels.processing import apply_color_lut

    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.ndim == 2:  # single-sample data mislabelled as colour: already grey
        rgb = np.repeat(arr[..., None], 3, axis=-1)
    else:
        rgb = arr[..., :3]
    rgb = rgb.astype(np.float32)
    grey = rgb @ _LUMA
    top = float(max(rgb.max(), 1.0))
    coloured = bool(np.abs(rgb - grey[..., None]).max() > top * 2 / 255)
    score = colourfulness(np.clip(rgb / top, 0.0, 1.0)) if coloured else 0.0
    return _stretch(grey, float(grey.min()), float(grey.max())), coloured, score


def _spacing(ds: Any) -> tuple[float, float] | None:
    """Pixel spacing in mm at the patient: PixelSpacing when given, else the detector's
    ImagerPixelSpacing divided by the estimated radiographic magnification (1 when absent)."""
    ps = _pair(ds.get("PixelSpacing"))
    if ps:
        return ps
    ips = _pair(ds.get("ImagerPixelSpacing"))
    if not ips:
        return None
    try:
        mag = float(ds.get("EstimatedRadiographicMagnificationFactor") or 1.0)
    except (TypeError, ValueError):
        mag = 1.0
    mag = mag if mag > 0 else 1.0
    return (ips[0] / mag, ips[1] / mag)


def _pair(value: Any) -> tuple[float, float] | None:
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (row, col) if row > 0 and col > 0 else None


def _laterality(ds: Any) -> Laterality | None:
    """ImageLaterality (this image) wins over Laterality (the series); only L or R count."""
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(ds.get(keyword, "") or "").strip().upper()
        if value:
            return value if value in ("L", "R") else None  # type: ignore[return-value]
    return None


def _strings(ds: Any, keywords: tuple[str, ...]) -> dict[str, str]:
    from pydicom.multival import MultiValue

    out: dict[str, str] = {}
    for kw in keywords:
        try:
            value = ds.get(kw)
        except Exception:  # a malformed value must not cost us the image
            continue
        if value is None or value == "":
            continue
        if isinstance(value, (MultiValue, list, tuple)):
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        if text.strip():
            out[kw] = text.strip()
    return out
