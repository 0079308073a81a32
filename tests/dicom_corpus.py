"""A DICOM corpus built in memory from one known knee, for the intake tests and the intake bench.

Every case starts from the same 12-bit reference image (an example knee crop, resized to a
non-square size so a swapped row/column would show), is written with pydicom, and carries what
``kneeai.io.load_radiograph`` should make of it: the expected pixels and how closely they must
match, or the exact error type and message key.

Encoders: RLE, JPEG-LS (pyjpegls) and JPEG 2000 (pylibjpeg-openjpeg) through ``Dataset.compress``;
deflate through pydicom's writer; JPEG baseline with Pillow and JPEG lossless (process 14, first-
order prediction) with imagecodecs' libjpeg-turbo 3, both wrapped with ``pydicom.encaps``.
"""
from __future__ import annotations

import copy
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import (
    RLELossless,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEGLosslessSV1,
    MPEG2MPML,
    UID,
)

from kneeai.errors import ImageTooLarge, KneeAIError, NoPixelData, UnreadableImage, UnsupportedCodec, UnsupportedPhotometric

__all__ = [
    "EXAMPLE_KNEE",
    "Case",
    "reference_knee",
    "minmax",
    "base_dataset",
    "to_bytes",
    "encode",
    "CODECS",
    "build_corpus",
    "png_bytes",
    "png_bomb",
]

EXAMPLE_KNEE = Path(__file__).resolve().parents[1] / "examples" / "knees" / "kl2_9015402R.webp"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
ROWS, COLS = 320, 256


@dataclass(frozen=True)
class Case:
    """One corpus file and what intake must make of it.

    expected : float image in [0, 1] the decoded pixels are compared with, or None for errors.
    max_abs : largest tolerated absolute difference (lossless cases); None skips the check.
    min_corr : smallest tolerated Pearson correlation with ``expected``.
    error, error_key : the exact exception type and i18n key for a file that must be refused.
    """

    name: str
    data: bytes
    expected: np.ndarray | None = None
    max_abs: float | None = 1e-6
    min_corr: float = 0.999
    error: type[KneeAIError] | None = None
    error_key: str | None = None
    warnings: tuple[str, ...] = ()
    spacing: tuple[float, float] | None = (0.15, 0.14)
    laterality: str | None = "R"
    source_contains: str = ""


def reference_knee(rows: int = ROWS, cols: int = COLS, bits: int = 12, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """The known knee as unsigned integers using the full ``bits`` range, shape (rows, cols).

    ``noise`` adds Gaussian detector-like noise (in grey levels), for a realistic bench.
    """
    from PIL import Image

    img = Image.open(EXAMPLE_KNEE).convert("L").resize((cols, rows), Image.Resampling.BICUBIC)
    x = np.asarray(img, dtype=np.float64)
    x = (x - x.min()) / (x.max() - x.min())
    top = 2**bits - 1
    x = x * top
    if noise:
        x = x + np.random.default_rng(seed).normal(0.0, noise, x.shape)
    x = np.clip(np.rint(x), 0, top)
    # Pin the extremes so min/max normalisation is the same before and after added noise.
    x.flat[0], x.flat[-1] = 0, top
    return x.astype(np.uint16 if bits > 8 else np.uint8)


def minmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def base_dataset(pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int | None = None) -> Dataset:
    """A DX 'for presentation' dataset around ``pixels`` with fake identifiers and knee tags."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-0001"
    ds.PatientBirthDate = "19550101"
    ds.PatientSex = "F"
    ds.AccessionNumber = "ACC-42"
    ds.InstitutionName = "Example Hospital"
    ds.StudyDate = "20240102"
    ds.Modality = "DX"
    ds.BodyPartExamined = "KNEE"
    ds.ViewPosition = "PA"
    ds.ImageLaterality = "R"
    ds.Manufacturer = "Synthetic"
    ds.PixelSpacing = [0.15, 0.14]
    if pixels.ndim == 3 and photometric != "MONOCHROME2" and pixels.shape[-1] == 3:
        ds.set_pixel_data(pixels, photometric, bits_stored or 8)
    else:
        ds.set_pixel_data(pixels, photometric, bits_stored or (12 if pixels.dtype.itemsize == 2 else 8))
    return ds


def to_bytes(ds: Dataset, preamble: bool = True, file_meta: bool = True) -> bytes:
    """Serialise ``ds``: as a Part 10 file, without the 128-byte preamble, or as a bare dataset."""
    ds = copy.deepcopy(ds)
    buf = io.BytesIO()
    if preamble:
        ds.save_as(buf, enforce_file_format=True)
    elif file_meta:
        ds.preamble = None
        pydicom.dcmwrite(buf, ds, enforce_file_format=False)
    else:
        implicit = ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        del ds.file_meta
        pydicom.dcmwrite(buf, ds, enforce_file_format=False, implicit_vr=implicit, little_endian=True)
    return buf.getvalue()


def _encapsulate(ds: Dataset, frame: bytes, tsyntax: UID) -> Dataset:
    ds.file_meta.TransferSyntaxUID = tsyntax
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def _jpeg_baseline(ds: Dataset) -> Dataset:
    """8-bit grey (or YBR_FULL_422 colour) JPEG baseline, encoded by Pillow."""
    from PIL import Image

    arr = ds.pixel_array
    if arr.dtype != np.uint8:
        arr = (arr >> (int(ds.BitsStored) - 8)).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    buf = io.BytesIO()
    if arr.ndim == 3:
        Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=95, subsampling=1)  # 4:2:2
        ds.PhotometricInterpretation = "YBR_FULL_422"
    else:
        Image.fromarray(arr, "L").save(buf, "JPEG", quality=95)
    ds.LossyImageCompression = "01"
    return _encapsulate(ds, buf.getvalue(), JPEGBaseline8Bit)


def _jpeg_lossless(ds: Dataset) -> Dataset:
    """JPEG lossless, process 14, selection value 1 (libjpeg-turbo 3 via imagecodecs)."""
    import imagecodecs

    frame = imagecodecs.jpeg8_encode(ds.pixel_array, lossless=True, bitspersample=int(ds.BitsStored), predictor=1)
    return _encapsulate(ds, frame, JPEGLosslessSV1)


def _deflated(ds: Dataset) -> Dataset:
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return ds


def _implicit(ds: Dataset) -> Dataset:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _compress(tsyntax: UID, **kwargs: object):
    def run(ds: Dataset) -> Dataset:
        ds.compress(tsyntax, **kwargs)
        return ds

    return run


# codec label -> (encoder, lossless?). The bench times each; the tests decode each.
CODECS = {
    "explicit_le": (lambda ds: ds, True),
    "implicit_le": (_implicit, True),
    "deflated": (_deflated, True),
    "rle": (_compress(RLELossless), True),
    "jpeg_lossless_sv1": (_jpeg_lossless, True),
    "jpegls_lossless": (_compress(JPEGLSLossless), True),
    "jpegls_near_lossless": (_compress(JPEGLSNearLossless, jls_error=3), False),
    "j2k_lossless": (_compress(JPEG2000Lossless), True),
    "j2k_lossy": (_compress(JPEG2000, j2k_cr=[10]), False),  # ~10:1, a common clinical ratio
    "jpeg_baseline_8bit": (_jpeg_baseline, False),
}


def encode(ds: Dataset, codec: str) -> bytes:
    """``ds`` (uncompressed) written with the named codec from :data:`CODECS`."""
    encoder, _ = CODECS[codec]
    return to_bytes(encoder(copy.deepcopy(ds)))


def _lut_item(descriptor: list[int], data: np.ndarray) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.LUTData = [int(v) for v in data]
    item["LUTData"].VR = "US"
    return item


def _rgb(ref8: np.ndarray) -> np.ndarray:
    """A tinted colour version of the knee whose luma follows the grey image."""
    return np.stack([ref8, (ref8 * 0.8).astype(np.uint8), (ref8 * 0.6 + 40).astype(np.uint8)], axis=-1)


def png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    (Image.fromarray(arr, mode) if mode else Image.fromarray(arr)).save(buf, "PNG")
    return buf.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG whose header claims ``width x height`` grey pixels but carries almost no data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR window onto [0, 1], written out independently of intake."""
    c, w = center - 0.5, width - 1
    return np.clip((values - c) / w + 0.5, 0, 1).astype(np.float32)


@lru_cache(maxsize=2)
def build_corpus(rows: int = ROWS, cols: int = COLS) -> dict[str, Case]:
    """Every corpus case by name. Cached: the files are immutable bytes."""
    with warnings.catch_warnings():
        # Some cases are deliberately odd (garbage bits, bombs); pydicom says so while writing.
        warnings.simplefilter("ignore")
        return _build(rows, cols)


def _build(rows: int, cols: int) -> dict[str, Case]:
    ref = reference_knee(rows, cols)
    exp = minmax(ref)
    ref8 = (ref >> 4).astype(np.uint8)
    base = base_dataset(ref)
    cases: dict[str, Case] = {}

    def add(case: Case) -> None:
        cases[case.name] = case

    # Each transfer syntax.
    for codec, (_, lossless) in CODECS.items():
        if codec == "jpeg_baseline_8bit":
            add(Case(codec, encode(base, codec), minmax(ref8), max_abs=None, min_corr=0.995, source_contains="1.2.840.10008.1.2.4.50"))
        elif lossless:
            add(Case(codec, encode(base, codec), exp))
        else:
            add(Case(codec, encode(base, codec), exp, max_abs=None, min_corr=0.99))

    # Framing: no preamble (file meta kept), and a bare implicit-VR dataset without file meta.
    add(Case("no_preamble", to_bytes(base, preamble=False), exp))
    add(Case("bare_dataset", to_bytes(_implicit(copy.deepcopy(base)), preamble=False, file_meta=False), exp))

    # MONOCHROME1: stored inverted, must come out bone-bright like the reference.
    ds = base_dataset((4095 - ref).astype(np.uint16), "MONOCHROME1")
    add(Case("monochrome1", to_bytes(ds), exp))
    add(Case("monochrome1_j2k", encode(ds, "j2k_lossless"), exp))

    # 12 bits stored in 16 with garbage in the 4 unused high bits.
    ds = base_dataset(ref)
    garbage = np.random.default_rng(1).integers(0, 16, ref.shape, dtype=np.uint16) << 12
    ds.PixelData = (ref | garbage).tobytes()
    add(Case("garbage_high_bits", to_bytes(ds), exp))

    # Signed 12-bit, written as raw 12-bit two's complement (high bits NOT sign-extended).
    signed = ref.astype(np.int32) - 2048
    ds = base_dataset(ref)
    ds.PixelRepresentation = 1
    ds.PixelData = (signed & 0x0FFF).astype(np.uint16).tobytes()
    add(Case("signed", to_bytes(ds), exp))

    # Rescale slope/intercept, then a LINEAR window given in rescaled units.
    ds = base_dataset(ref)
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 2, -1024, "US"
    ds.WindowCenter, ds.WindowWidth = 3000, 6000
    add(Case("rescale_window", to_bytes(ds), _window(2.0 * ref - 1024, 3000, 6000)))

    # Multi-valued window: the first pair is the one to use.
    ds = base_dataset(ref)
    ds.WindowCenter, ds.WindowWidth = [1500, 3000], [2000, 500]
    add(Case("window_multi", to_bytes(ds), _window(ref.astype(np.float64), 1500, 2000)))

    # Modality LUT sequence (non-linear, so applying it or not shows).
    lut = np.rint((np.arange(4096) / 4095.0) ** 2 * 60000).astype(np.uint16)
    ds = base_dataset(ref)
    ds.ModalityLUTSequence = [_lut_item([4096, 0, 16], lut)]
    ds.ModalityLUTSequence[0].ModalityLUTType = "US"
    add(Case("modality_lut", to_bytes(ds), minmax(lut[ref])))

    # VOI LUT sequence wins over a window that is also present.
    voi = np.rint(np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16)
    ds = base_dataset(ref)
    ds.VOILUTSequence = [_lut_item([4096, 0, 16], voi)]
    ds.WindowCenter, ds.WindowWidth = 100, 50
    add(Case("voi_lut", to_bytes(ds), (voi[ref] / 65535.0).astype(np.float32)))

    # Multi-frame: the first frame is used and the user is told.
    frames = np.stack([ref, 4095 - ref, ref // 2])
    ds = base_dataset(frames)
    add(Case("multiframe", to_bytes(ds), exp, warnings=("warn.multiframe",)))

    # Colour: RGB, YBR_FULL (native) and YBR_FULL_422 (JPEG baseline), PALETTE COLOR.
    rgb = _rgb(ref8)
    grey_of_rgb = minmax(rgb @ np.array([0.299, 0.587, 0.114]))
    add(Case("rgb", to_bytes(base_dataset(rgb, "RGB")), grey_of_rgb, max_abs=0.01, warnings=("warn.colour_converted",)))
    ds = base_dataset(convert_color_space(rgb, "RGB", "YBR_FULL"), "YBR_FULL")
    add(Case("ybr_full", to_bytes(ds), grey_of_rgb, max_abs=0.03, min_corr=0.998, warnings=("warn.colour_converted",)))
    add(Case("ybr_full_422_jpeg", encode(base_dataset(rgb, "RGB"), "jpeg_baseline_8bit"), grey_of_rgb, max_abs=None,
             min_corr=0.99, warnings=("warn.colour_converted",)))
    ds = base_dataset(ref8, "PALETTE COLOR")
    ramp = np.arange(256, dtype=np.float64) / 255.0
    ds.RedPaletteColorLookupTableDescriptor = [256, 0, 16]
    ds.GreenPaletteColorLookupTableDescriptor = [256, 0, 16]
    ds.BluePaletteColorLookupTableDescriptor = [256, 0, 16]
    ds.RedPaletteColorLookupTableData = np.rint(ramp * 65535).astype("<u2").tobytes()
    ds.GreenPaletteColorLookupTableData = np.rint(ramp * 0.8 * 65535).astype("<u2").tobytes()
    ds.BluePaletteColorLookupTableData = np.rint((ramp * 0.6 + 0.15) * 65535).astype("<u2").tobytes()
    add(Case("palette_color", to_bytes(ds), minmax(ref8), max_abs=0.02, warnings=("warn.colour_converted",)))

    # Spacing from the detector: ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor.
    ds = base_dataset(ref)
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.EstimatedRadiographicMagnificationFactor = 1.25
    add(Case("imager_spacing_magnified", to_bytes(ds), exp, spacing=(0.16, 0.16)))
    del ds.EstimatedRadiographicMagnificationFactor
    add(Case("imager_spacing", to_bytes(ds), exp, spacing=(0.2, 0.2)))
    del ds.ImagerPixelSpacing
    add(Case("no_spacing", to_bytes(ds), exp, spacing=None))

    # Laterality: image-level first, then series-level; anything but L/R is unknown.
    ds = base_dataset(ref)
    del ds.ImageLaterality
    ds.Laterality = "L"
    add(Case("series_laterality", to_bytes(ds), exp, laterality="L"))
    ds.ImageLaterality = "B"
    add(Case("both_laterality", to_bytes(ds), exp, laterality=None))

    # Files that must be refused, each with its exact error.
    def bad(name: str, data: bytes, error: type[KneeAIError], key: str) -> None:
        add(Case(name, data, error=error, error_key=key))

    full = to_bytes(base)
    bad("empty", b"", UnreadableImage, "error.empty_file")
    bad("garbage", b"This is a text file, not an image.\n" * 20, UnreadableImage, "intake.error.unrecognised")
    bad("truncated_header", full[:200], UnreadableImage, "intake.error.truncated_header")
    bad("truncated_pixels", full[: len(full) - ref.nbytes // 2], UnreadableImage, "error.truncated_pixels")
    j2k = encode(base, "j2k_lossless")
    bad("truncated_j2k", j2k[: len(j2k) - len(j2k) // 3], UnreadableImage, "error.truncated_pixels")
    ds = copy.deepcopy(base)
    for kw in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, kw)
    bad("no_pixel_data", to_bytes(ds), NoPixelData, "error.no_pixel_data")
    ds = copy.deepcopy(base)
    _encapsulate(ds, b"\x00\x00\x01\xb3" + b"\x00" * 64, MPEG2MPML)
    bad("unsupported_codec", to_bytes(ds), UnsupportedCodec, "error.unsupported_codec")
    ds = base_dataset(rgb, "RGB")
    ds.PhotometricInterpretation = "HSV"
    bad("unsupported_photometric", to_bytes(ds), UnsupportedPhotometric, "error.unsupported_photometric")
    ds = base_dataset(ref)
    del ds.PhotometricInterpretation
    bad("missing_photometric", to_bytes(ds), UnreadableImage, "intake.error.missing_tags")
    ds = base_dataset(ref)
    ds.WindowCenter, ds.WindowWidth = 2048, 0
    bad("zero_window", to_bytes(ds), UnreadableImage, "error.zero_window")
    ds = base_dataset(ref)
    ds.Rows, ds.Columns = 60_000, 60_000  # header claims 3.6 GP; the data is tiny
    bad("bomb_rows_columns", to_bytes(ds), ImageTooLarge, "error.too_large")
    ds = base_dataset(ref)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 5_000, 5_000, 4
    bad("bomb_frames", to_bytes(ds), ImageTooLarge, "error.too_large")
    bad("png_bomb_named_dcm", png_bomb(), ImageTooLarge, "error.too_large")

    # A PNG renamed .dcm is read as the PNG it is.
    add(Case("png_named_dcm", png_bytes(ref8), minmax(ref8), spacing=None, laterality=None, source_contains="PNG"))
    return cases
