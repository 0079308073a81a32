"""PNG / JPEG / WebP / TIFF intake through Pillow."""
from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
import pytest
from PIL import Image

from kneeai.errors import ImageTooLarge, UnreadableImage
from kneeai.io import load_radiograph, sniff_format
from tests.dicom_corpus import png_bomb, reference_knee


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def knee8() -> np.ndarray:
    return (reference_knee(160, 128) >> 4).astype(np.uint8)


def test_png_8_bit_grey_is_divided_by_255(knee8) -> None:
    data = _save(Image.fromarray(knee8, "L"), "PNG")
    rad = load_radiograph(data)
    assert rad.pixels.dtype == np.float32 and rad.shape == (160, 128)
    assert np.array_equal(rad.pixels, knee8.astype(np.float32) / 255)
    assert rad.source == "PNG 8-bit"
    assert rad.spacing_mm is None and rad.laterality is None and rad.identifiers == {}
    assert rad.sha256 == hashlib.sha256(data).hexdigest()


def test_png_16_bit_holding_12_bit_data_is_divided_by_4095() -> None:
    ref = reference_knee(160, 128)  # 0..4095 in a 16-bit container
    img = Image.fromarray(ref)
    assert img.mode == "I;16"
    rad = load_radiograph(_save(img, "PNG"))
    assert np.abs(rad.pixels - ref / 4095.0).max() < 1e-6
    assert rad.meta["BitsStored"] == "12" and rad.meta["BitsAllocated"] == "16"
    assert rad.source == "PNG 16-bit (12 bits used)"


def test_png_16_bit_full_range_is_divided_by_65535() -> None:
    ref = (reference_knee(160, 128, bits=16)).astype(np.uint16)
    rad = load_radiograph(_save(Image.fromarray(ref), "PNG"))
    assert np.abs(rad.pixels - ref / 65535.0).max() < 1e-6
    assert rad.source == "PNG 16-bit"


def test_tiff_16_bit_holding_10_bit_data_is_divided_by_1023() -> None:
    ref = reference_knee(160, 128, bits=10)
    ref[ref < 100] = 100  # a raised floor must survive: no min..max stretch
    rad = load_radiograph(_save(Image.fromarray(ref.astype(np.uint16)), "TIFF"))
    assert rad.source == "TIFF 16-bit (10 bits used)"
    assert np.abs(rad.pixels - ref / 1023.0).max() < 1e-6
    assert rad.pixels.min() == pytest.approx(100 / 1023)


def test_jpeg_and_webp_read_close_to_the_source(knee8) -> None:
    for fmt, kwargs in (("JPEG", {"quality": 95}), ("WEBP", {"quality": 95})):
        rad = load_radiograph(_save(Image.fromarray(knee8, "L"), fmt, **kwargs))
        assert rad.source == ("JPEG" if fmt == "JPEG" else "WEBP") + " 8-bit"
        assert np.corrcoef(rad.pixels.ravel(), knee8.ravel())[0, 1] > 0.995
        assert rad.warnings == ()


def test_the_shipped_example_knees_load(examples_dir) -> None:
    files = sorted((examples_dir / "knees").glob("*.webp"))
    assert files
    for path in files:
        rad = load_radiograph(path)
        assert rad.shape == (224, 224) and 0.0 <= rad.pixels.min() < rad.pixels.max() <= 1.0


def test_exif_orientation_is_applied(knee8) -> None:
    img = Image.fromarray(knee8, "L")  # 160 rows x 128 cols
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    rad = load_radiograph(_save(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert rad.shape == (128, 160)
    expected = np.rot90(knee8, k=-1).astype(np.float32) / 255
    assert np.corrcoef(rad.pixels.ravel(), expected.ravel())[0, 1] > 0.99


def test_colour_becomes_grey_with_a_warning(knee8) -> None:
    rgb = np.stack([knee8, (knee8 * 0.7).astype(np.uint8), (knee8 * 0.4 + 60).astype(np.uint8)], axis=-1)
    rad = load_radiograph(_save(Image.fromarray(rgb, "RGB"), "PNG"))
    assert rad.warnings == ("warn.colour_converted",)
    expected = (rgb / 255.0) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(rad.pixels - expected).max() < 1e-5


def test_grey_saved_as_rgb_jpeg_gives_no_colour_warning(knee8) -> None:
    rgb = np.repeat(knee8[..., None], 3, axis=-1)
    rad = load_radiograph(_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95))
    assert rad.warnings == ()


def test_alpha_is_dropped_not_composited(knee8) -> None:
    rgba = np.dstack([np.repeat(knee8[..., None], 3, axis=-1), np.zeros_like(knee8)])  # fully transparent
    rad = load_radiograph(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert np.abs(rad.pixels - knee8 / 255.0).max() < 1e-5
    la = load_radiograph(_save(Image.fromarray(rgba[..., [0, 3]], "LA"), "PNG"))
    assert np.abs(la.pixels - knee8 / 255.0).max() < 1e-6


def test_palette_png_is_read_as_grey(knee8) -> None:
    img = Image.fromarray(knee8, "L").convert("P")
    rad = load_radiograph(_save(img, "PNG"))
    assert np.corrcoef(rad.pixels.ravel(), knee8.ravel())[0, 1] > 0.999


def test_multipage_tiff_uses_the_first_page_and_says_so(knee8) -> None:
    first, second = Image.fromarray(knee8, "L"), Image.fromarray(255 - knee8, "L")
    buf = io.BytesIO()
    first.save(buf, "TIFF", save_all=True, append_images=[second])
    rad = load_radiograph(buf.getvalue())
    assert rad.warnings == ("intake.warn.multipage",)
    assert np.array_equal(rad.pixels, knee8 / np.float32(255))


def test_truncated_png_is_a_truncated_image(knee8) -> None:
    data = _save(Image.fromarray(knee8, "L"), "PNG")
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(data[: len(data) // 2])
    assert info.value.key == "intake.error.truncated_image"


def test_png_magic_with_a_broken_header_is_a_truncated_header() -> None:
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    assert info.value.key == "intake.error.truncated_header"


@pytest.mark.parametrize("side", [20_000, 9_500])
def test_pixel_bombs_are_refused_from_the_header(side: int) -> None:
    # 20000^2 trips Pillow's own DecompressionBombError; 9500^2 (90 MP) only its warning, and our
    # 80 MP limit must refuse it with no warning leaking out.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLarge) as info:
            load_radiograph(png_bomb(side, side))
    assert info.value.params["pixels"] in (side * side, str(side * side))


def test_sniffer_ignores_names_and_knows_the_magic() -> None:
    assert sniff_format(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff_format(b"\xff\xd8\xff\xe0....") == "jpeg"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_format(b"II*\x00....") == "tiff" and sniff_format(b"MM\x00*....") == "tiff"
    assert sniff_format(b"\x00" * 128 + b"DICM....") == "dicom"
    assert sniff_format(b"\x08\x00\x05\x00CS\x0a\x00") == "dicom_bare"
    assert sniff_format(b"GIF89a....") is None
    assert sniff_format(b"") is None


def test_unsupported_image_format_is_unrecognised(knee8) -> None:
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(_save(Image.fromarray(knee8, "L"), "GIF"))
    assert info.value.key == "intake.error.unrecognised"
