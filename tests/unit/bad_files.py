"""A corpus of bad files for intake, generated here (no binary blobs), each with the message the
user sees: the exact error type, its i18n key, and words of the English message.

Built from the same known knee as ``tests/dicom_corpus.py`` (its refusals are included too), plus
damaged, crafted and not-an-image files of every format intake sniffs. ``deflate_bomb`` and
``header_30000`` are the two whose memory the tests also measure.
"""
from __future__ import annotations

import copy
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from kneeai.errors import ImageTooLarge, KneeAIError, UnreadableImage, UnsupportedPhotometric
from tests.dicom_corpus import base_dataset, build_corpus, encode, png_bytes, png_bomb, reference_knee, to_bytes

__all__ = ["BadFile", "bad_files", "deflate_bomb", "header_30000", "BOMB_INFLATED_BYTES"]

# What the deflate bomb would inflate to: far past the inflation cap (~336 MB), ~1 MB on disk.
BOMB_INFLATED_BYTES = 1 << 30


@dataclass(frozen=True)
class BadFile:
    name: str
    data: bytes
    error: type[KneeAIError]
    key: str
    says: str  # words of the English message the user sees


def _meta_prefix(ds: Dataset, tsyntax) -> bytes:  # noqa: ANN001
    """Preamble + DICM + file meta for ``tsyntax``, i.e. a Part 10 file up to its dataset."""
    ds = copy.deepcopy(ds)
    ds.file_meta.TransferSyntaxUID = tsyntax
    full = to_bytes(ds)
    meta_len = struct.unpack("<I", full[140:144])[0]  # (0002,0000) UL group length, value at 140
    return full[:144 + meta_len]


def _dataset_bytes(ds: Dataset) -> bytes:
    from pydicom.filebase import DicomBytesIO

    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    return buf.getvalue()


def _raw_deflate_of_zeros(head: bytes, n_zero: int) -> bytes:
    """Raw deflate of ``head + n_zero zero bytes``, built in milliseconds: after a full flush a
    MiB of zeros always compresses to the same bytes, so those are repeated."""
    mib = b"\0" * (1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    return out + block * (n_zero >> 20) + c.flush()


def deflate_bomb(inflated: int = BOMB_INFLATED_BYTES) -> bytes:
    """A deflated DICOM of ~1 MB whose dataset inflates to ``inflated`` bytes: a modest 2000 x 2000
    header and a Pixel Data element claiming (and holding) ~1 GiB of zeros."""
    ds = base_dataset(reference_knee(8, 8))
    del ds.PixelData
    ds.Rows, ds.Columns = 2000, 2000
    head = _dataset_bytes(ds)
    pixel_len = inflated - len(head) - 12
    head += b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", pixel_len)
    return _meta_prefix(ds, DeflatedExplicitVRLittleEndian) + _raw_deflate_of_zeros(head, pixel_len)


def header_30000(deflated: bool = False) -> bytes:
    """A small DICOM whose header says 30,000 x 30,000 pixels (900 MP, 1.8 GB at 16 bits)."""
    ds = base_dataset(reference_knee(64, 64))
    ds.Rows, ds.Columns = 30_000, 30_000
    if deflated:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return to_bytes(ds)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _files() -> dict[str, bytes]:
    """Every bad file by name (what it is, in its name)."""
    ref = reference_knee(96, 80)
    ref8 = (ref >> 4).astype(np.uint8)
    base = base_dataset(ref)
    full = to_bytes(base)
    files: dict[str, bytes] = {}

    def ds_with(**changes: object) -> Dataset:
        ds = copy.deepcopy(base)
        for k, v in changes.items():
            if v is None:
                delattr(ds, k)
            else:
                setattr(ds, k, v)
        return ds

    # Size: crafted headers and a deflate bomb.
    files["deflate_bomb"] = deflate_bomb()
    files["header_30000"] = header_30000()
    files["header_30000_deflated"] = header_30000(deflated=True)
    files["declared_rgb_16bit_too_large"] = to_bytes(ds_with(Rows=8000, Columns=8000, SamplesPerPixel=3,
                                                             PhotometricInterpretation="RGB", PlanarConfiguration=0))
    files["declared_64bit_too_large"] = to_bytes(ds_with(Rows=8500, Columns=8500, BitsAllocated=64))
    files["header_many_frames"] = to_bytes(ds_with(NumberOfFrames=100_000))
    files["png_30000"] = png_bomb(30_000, 30_000)
    # Missing or impossible image tags.
    for tag in ("Rows", "Columns", "BitsAllocated", "PixelRepresentation", "SamplesPerPixel"):
        files[f"missing_{tag}"] = to_bytes(ds_with(**{tag: None}))
    files["zero_rows"] = to_bytes(ds_with(Rows=0))
    files["zero_columns"] = to_bytes(ds_with(Columns=0))
    files["photometric_cmyk"] = to_bytes(ds_with(PhotometricInterpretation="CMYK"))
    files["photometric_empty"] = to_bytes(ds_with(PhotometricInterpretation="  "))
    files["negative_window"] = to_bytes(ds_with(WindowCenter=2048, WindowWidth=-10))
    files["window_width_half"] = to_bytes(ds_with(WindowCenter=2048, WindowWidth=0.5))
    # Damaged DICOM framing.
    files["preamble_only"] = b"\0" * 128 + b"DICM"
    files["preamble_and_junk"] = b"\0" * 128 + b"DICM" + bytes(range(256)) * 4
    files["cut_in_file_meta"] = full[:150]
    files["cut_after_file_meta"] = full[:_meta_len(full)]
    files["pixels_half_missing"] = full[:len(full) - ref.nbytes // 2]
    files["pixels_one_byte_short"] = full[:-1]
    deflated = encode(base, "deflated")
    m = _meta_len(deflated)
    files["deflated_garbage_stream"] = deflated[:m] + bytes(range(256)) * 8
    files["deflated_cut_in_half"] = deflated[:m + (len(deflated) - m) // 2]
    files["deflated_wrong_syntax_plain_data"] = _meta_prefix(base, DeflatedExplicitVRLittleEndian) + _dataset_bytes(base)
    # Damaged compressed pixel data.
    for codec in ("rle", "jpegls_lossless", "j2k_lossless", "jpeg_lossless_sv1", "jpeg_baseline_8bit"):
        data = encode(base, codec)
        cut = len(data) - (len(data) - _meta_len(data)) // 2
        files[f"{codec}_cut"] = data[:cut]
    rle = encode(base, "rle")
    mid = _meta_len(rle) + (len(rle) - _meta_len(rle)) * 3 // 4
    files["rle_scrambled"] = rle[:mid - 200] + bytes(np.random.default_rng(3).integers(0, 256, 200, dtype=np.uint8)) + rle[mid:]
    # Other formats, damaged or crafted.
    png = png_bytes(ref8)
    files["png_cut"] = png[: len(png) // 2]
    files["png_header_only"] = png[:33]
    files["png_bad_idat"] = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 80, 96, 8, 0, 0, 0, 0)) + \
        _png_chunk(b"IDAT", b"not zlib at all") + _png_chunk(b"IEND", b"")
    files["jpeg_soi_only"] = b"\xff\xd8\xff"
    files["jpeg_cut"] = _jpeg(ref8)[:300]
    files["tiff_header_only"] = b"II*\x00\x08\x00\x00\x00"
    files["webp_junk"] = b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 24
    # Not images at all.
    files["empty"] = b""
    files["text"] = b"Patient list, do not share.\n" * 10
    files["gif"] = b"GIF89a" + b"\x00" * 64
    files["bmp"] = b"BM" + b"\x00" * 64
    files["pdf"] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"\x00" * 64
    files["zip"] = b"PK\x03\x04" + b"\x00" * 64
    files["zeros"] = b"\x00" * 1024
    files["bare_group_8_junk"] = b"\x08\x00" + bytes(range(200))
    return files


def _meta_len(data: bytes) -> int:
    """End of the file meta of a Part 10 file."""
    return 144 + struct.unpack("<I", data[140:144])[0]


def _jpeg(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@lru_cache(maxsize=1)
def bad_files() -> dict[str, BadFile]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _build()


def _build() -> dict[str, BadFile]:
    out = {name: BadFile(name, data, *EXPECT[name]) for name, data in _files().items()}
    # The refusals of the decoding corpus (tests/dicom_corpus.py) count too.
    for name, case in build_corpus().items():
        if case.error is not None:
            out[f"corpus_{name}"] = BadFile(f"corpus_{name}", case.data, case.error, case.error_key or "", "")
    return out


# name -> (error type, i18n key, words of the English message)
EXPECT: dict[str, tuple[type[KneeAIError], str, str]] = {
    'deflate_bomb': (ImageTooLarge, 'intake.error.inflated_too_large',
        'This compressed (deflated) DICOM would inflate to more than 321 MB, more than any film we accept; it was refused without being unpacked. It may be damaged or crafted.'),
    'header_30000': (ImageTooLarge, 'error.too_large',
        'The image is too large (900000000 pixels; the limit is 80000000). It may be damaged or crafted.'),
    'header_30000_deflated': (ImageTooLarge, 'error.too_large',
        'The image is too large (900000000 pixels; the limit is 80000000). It may be damaged or crafted.'),
    'declared_rgb_16bit_too_large': (ImageTooLarge, 'intake.error.declared_too_large',
        'The header declares 366 MB of decoded pixels (8000 × 8000 × 3 samples × 1 frames × 16 bits), more than the limit of 305 MB; the file was not decoded. It may be damaged or crafted.'),
    'declared_64bit_too_large': (ImageTooLarge, 'intake.error.declared_too_large',
        'The header declares 551 MB of decoded pixels (8500 × 8500 × 1 samples × 1 frames × 64 bits), more than the limit of 305 MB; the file was not decoded. It may be damaged or crafted.'),
    'header_many_frames': (ImageTooLarge, 'error.too_large',
        'The image is too large (768000000 pixels; the limit is 80000000). It may be damaged or crafted.'),
    'png_30000': (ImageTooLarge, 'error.too_large',
        'The image is too large (900000000 pixels; the limit is 80000000). It may be damaged or crafted.'),
    'missing_Rows': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (Rows): the file is damaged or not an image.'),
    'missing_Columns': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (Columns): the file is damaged or not an image.'),
    'missing_BitsAllocated': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (BitsAllocated): the file is damaged or not an image.'),
    'missing_PixelRepresentation': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (PixelRepresentation): the file is damaged or not an image.'),
    'missing_SamplesPerPixel': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (SamplesPerPixel): the file is damaged or not an image.'),
    'zero_rows': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (Rows, Columns): the file is damaged or not an image.'),
    'zero_columns': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (Rows, Columns): the file is damaged or not an image.'),
    'photometric_cmyk': (UnsupportedPhotometric, 'error.unsupported_photometric',
        'This DICOM uses a photometric interpretation KneeAI does not support: CMYK.'),
    'photometric_empty': (UnreadableImage, 'intake.error.missing_tags',
        'This DICOM lacks tags every image must have (PhotometricInterpretation): the file is damaged or not an image.'),
    'negative_window': (UnreadableImage, 'error.zero_window',
        "The DICOM's display window has zero width, so its grey levels cannot be shown."),
    'window_width_half': (UnreadableImage, 'error.zero_window',
        "The DICOM's display window has zero width, so its grey levels cannot be shown."),
    'preamble_only': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'preamble_and_junk': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'cut_in_file_meta': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'cut_after_file_meta': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'pixels_half_missing': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'pixels_one_byte_short': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'deflated_garbage_stream': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'deflated_cut_in_half': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'deflated_wrong_syntax_plain_data': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'rle_cut': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'jpegls_lossless_cut': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'j2k_lossless_cut': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'jpeg_lossless_sv1_cut': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'jpeg_baseline_8bit_cut': (UnreadableImage, 'error.truncated_pixels',
        "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged."),
    'rle_scrambled': (UnreadableImage, 'intake.error.decode_failed',
        'The pixel data (RLE Lossless) could not be decoded: the file is damaged or uses an unusual variant of the codec.'),
    'png_cut': (UnreadableImage, 'intake.error.truncated_image',
        'The image data ends early or is damaged: the file is truncated or corrupt.'),
    'png_header_only': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'png_bad_idat': (UnreadableImage, 'intake.error.truncated_image',
        'The image data ends early or is damaged: the file is truncated or corrupt.'),
    'jpeg_soi_only': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'jpeg_cut': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'tiff_header_only': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'webp_junk': (UnreadableImage, 'intake.error.truncated_header',
        "The file's header is incomplete: the file is truncated or damaged."),
    'empty': (UnreadableImage, 'error.empty_file',
        'The file is empty.'),
    'text': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
    'gif': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
    'bmp': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
    'pdf': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
    'zip': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
    'zeros': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
    'bare_group_8_junk': (UnreadableImage, 'intake.error.unrecognised',
        'The file is not a DICOM, PNG, JPEG, WebP or TIFF image.'),
}
