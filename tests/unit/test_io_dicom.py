"""DICOM intake against the programmatic corpus in tests/dicom_corpus.py."""
from __future__ import annotations

import copy
import hashlib
import io

import numpy as np
import pytest

from kneeai.errors import KneeAIError, UnreadableImage, UnsupportedCodec
from kneeai.i18n import catalog
from kneeai.io import load_radiograph
from kneeai.io.dicom import IDENTIFYING_KEYWORDS
from tests.dicom_corpus import base_dataset, build_corpus, encode, reference_knee, to_bytes

CORPUS = build_corpus()
GOOD = [name for name, case in CORPUS.items() if case.error is None]
BAD = [name for name, case in CORPUS.items() if case.error is not None]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("name", GOOD)
def test_corpus_file_decodes_to_the_known_knee(name: str) -> None:
    case = CORPUS[name]
    rad = load_radiograph(case.data)
    assert rad.pixels.dtype == np.float32 and rad.pixels.ndim == 2
    assert rad.pixels.shape == case.expected.shape
    assert 0.0 <= rad.pixels.min() and rad.pixels.max() <= 1.0
    if case.max_abs is not None:
        assert np.abs(rad.pixels - case.expected).max() <= case.max_abs
    assert _corr(rad.pixels, case.expected) >= case.min_corr
    if case.spacing is None:
        assert rad.spacing_mm is None
    else:
        assert rad.spacing_mm == pytest.approx(case.spacing)
    assert rad.laterality == case.laterality
    assert rad.warnings == case.warnings
    assert case.source_contains in rad.source
    assert rad.sha256 == hashlib.sha256(case.data).hexdigest()


@pytest.mark.parametrize("name", BAD)
def test_broken_file_raises_its_exact_error(name: str) -> None:
    case = CORPUS[name]
    with pytest.raises(KneeAIError) as info:
        load_radiograph(case.data)
    assert type(info.value) is case.error
    assert info.value.key == case.error_key


@pytest.mark.parametrize(
    "codec, uid",
    [
        ("explicit_le", "1.2.840.10008.1.2.1"),
        ("implicit_le", "1.2.840.10008.1.2"),
        ("deflated", "1.2.840.10008.1.2.1.99"),
        ("rle", "1.2.840.10008.1.2.5"),
        ("jpeg_baseline_8bit", "1.2.840.10008.1.2.4.50"),
        ("jpeg_lossless_sv1", "1.2.840.10008.1.2.4.70"),
        ("jpegls_lossless", "1.2.840.10008.1.2.4.80"),
        ("jpegls_near_lossless", "1.2.840.10008.1.2.4.81"),
        ("j2k_lossless", "1.2.840.10008.1.2.4.90"),
        ("j2k_lossy", "1.2.840.10008.1.2.4.91"),
    ],
)
def test_source_names_the_transfer_syntax(codec: str, uid: str) -> None:
    rad = load_radiograph(CORPUS[codec].data)
    assert rad.source.startswith("DICOM ") and rad.source.endswith(" " + uid)
    assert rad.meta["TransferSyntaxUID"] == uid


def test_jpeg_lossless_corpus_file_really_is_process_14() -> None:
    # SOF3 (FFC3) is the lossless process; a baseline SOF0 here would make the case meaningless.
    from pydicom import dcmread
    from pydicom.encaps import generate_frames

    ds = dcmread(io.BytesIO(CORPUS["jpeg_lossless_sv1"].data))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert b"\xff\xc3" in frame and b"\xff\xc0" not in frame


def test_monochrome1_jpeg2000_and_plain_12_bit_films_of_one_knee_come_out_alike() -> None:
    plain = load_radiograph(CORPUS["explicit_le"].data).pixels
    mono1 = load_radiograph(CORPUS["monochrome1"].data).pixels
    j2k = load_radiograph(CORPUS["j2k_lossless"].data).pixels
    assert np.abs(mono1 - plain).max() < 1e-5
    assert np.abs(j2k - plain).max() < 1e-5
    # and the knee is bone-bright: the bright half of the reference is the bright half here
    ref = reference_knee()
    assert plain[ref > np.median(ref)].mean() > plain[ref <= np.median(ref)].mean() + 0.2


def test_pydicom_masks_garbage_high_bits_itself() -> None:
    # dicom.py relies on this rather than masking again; if pydicom ever stops, this fails first.
    from pydicom import dcmread
    from pydicom.pixels import pixel_array

    arr = pixel_array(dcmread(io.BytesIO(CORPUS["garbage_high_bits"].data)), index=0)
    assert arr.max() <= 4095
    assert np.array_equal(arr, reference_knee())


def test_identifiers_are_kept_apart_from_meta() -> None:
    rad = load_radiograph(CORPUS["explicit_le"].data)
    assert rad.identifiers["PatientName"] == "Doe^Jane"
    assert rad.identifiers["PatientID"] == "PID-0001"
    assert rad.identifiers["PatientBirthDate"] == "19550101"
    assert rad.identifiers["AccessionNumber"] == "ACC-42"
    assert rad.identifiers["InstitutionName"] == "Example Hospital"
    assert rad.identifiers["StudyDate"] == "20240102"
    assert not set(rad.meta) & set(IDENTIFYING_KEYWORDS)
    for secret in ("Doe", "PID-0001", "19550101", "ACC-42", "Example Hospital", "20240102"):
        assert not any(secret in v for v in rad.meta.values())
    assert rad.meta["Modality"] == "DX"
    assert rad.meta["BodyPartExamined"] == "KNEE"
    assert rad.meta["ViewPosition"] == "PA"
    assert rad.meta["PhotometricInterpretation"] == "MONOCHROME2"
    assert rad.meta["BitsStored"] == "12"
    assert rad.meta["Rows"] == "320" and rad.meta["Columns"] == "256"
    assert rad.meta["Manufacturer"] == "Synthetic"


@pytest.mark.parametrize("kind", ["str", "path", "bytes", "bytearray", "filelike"])
def test_every_kind_of_source_reads_the_same(kind: str, tmp_path) -> None:
    data = CORPUS["rle"].data
    path = tmp_path / "film.dcm"
    path.write_bytes(data)
    fh = io.BytesIO(data)
    fh.seek(100)  # read from the start even when someone has already read part of it
    source = {"str": str(path), "path": path, "bytes": data, "bytearray": bytearray(data), "filelike": fh}[kind]
    rad = load_radiograph(source)
    assert rad.sha256 == hashlib.sha256(data).hexdigest()
    assert rad.shape == (320, 256)


def test_a_png_renamed_dcm_is_read_as_png(tmp_path) -> None:
    path = tmp_path / "knee.dcm"
    path.write_bytes(CORPUS["png_named_dcm"].data)
    rad = load_radiograph(path)
    assert rad.source.startswith("PNG")
    assert np.abs(rad.pixels - CORPUS["png_named_dcm"].expected).max() < 1e-6


def test_missing_path_is_our_error(tmp_path) -> None:
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(tmp_path / "nope.dcm")
    assert info.value.key == "intake.error.cannot_open"
    assert "nope.dcm" in info.value.message("en")


def test_missing_codec_plugin_is_unsupported_codec(monkeypatch) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    decoder = get_decoder(JPEG2000Lossless)
    monkeypatch.setattr(type(decoder), "is_available", property(lambda self: False))
    with pytest.raises(UnsupportedCodec) as info:
        load_radiograph(CORPUS["j2k_lossless"].data)
    assert info.value.params["name"] == "JPEG 2000 Image Compression (Lossless Only)"


@pytest.mark.parametrize(
    "function, center, width, expected",
    [
        ("LINEAR_EXACT", 2000.0, 1000.0, lambda x: np.clip((x - 2000.0) / 1000.0 + 0.5, 0, 1)),
        ("SIGMOID", 2000.0, 1000.0, lambda x: 1 / (1 + np.exp(-4 * (x - 2000.0) / 1000.0))),
    ],
)
def test_voi_lut_functions(function: str, center: float, width: float, expected) -> None:
    ref = reference_knee()
    ds = base_dataset(ref)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    rad = load_radiograph(to_bytes(ds))
    assert np.abs(rad.pixels - expected(ref.astype(np.float64))).max() < 1e-5


def test_first_frame_only_is_decoded_for_multiframe_jpeg2000() -> None:
    ref = reference_knee()
    ds = base_dataset(np.stack([ref, 4095 - ref]))
    rad = load_radiograph(encode(ds, "j2k_lossless"))
    assert rad.warnings == ("warn.multiframe",)
    assert _corr(rad.pixels, ref.astype(np.float64)) > 0.9999


def test_bytes_that_start_like_dicom_but_are_not_are_unrecognised() -> None:
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(b"\x08\x00" + bytes(range(256)) * 4)
    assert info.value.key == "intake.error.unrecognised"


def test_no_raw_exception_escapes_on_damaged_files() -> None:
    """Cut and corrupt corpus files at many places: each either decodes or raises our own error."""
    rng = np.random.default_rng(7)
    outcomes: set[str] = set()
    for name in ("explicit_le", "j2k_lossless", "jpegls_lossless", "rle", "jpeg_lossless_sv1", "deflated", "multiframe"):
        data = CORPUS[name].data
        for _ in range(12):
            mutated = bytearray(data)
            if rng.random() < 0.5:
                mutated = mutated[: int(rng.integers(1, len(data)))]
            else:
                for pos in rng.integers(0, len(data), 8):
                    mutated[pos] = int(rng.integers(0, 256))
            try:
                rad = load_radiograph(bytes(mutated))
                assert rad.pixels.dtype == np.float32 and np.isfinite(rad.pixels).all()
                outcomes.add("decoded")
            except KneeAIError as exc:
                outcomes.add(exc.key)
    assert "decoded" in outcomes and len(outcomes) > 2


def test_every_intake_message_exists_in_english_and_chinese() -> None:
    keys = {case.error_key for case in CORPUS.values() if case.error_key}
    keys |= {w for case in CORPUS.values() for w in case.warnings}
    keys |= {
        "intake.error.unrecognised", "intake.error.truncated_header", "intake.error.truncated_image",
        "intake.error.decode_failed", "intake.error.cannot_open", "intake.error.out_of_memory",
        "intake.warn.multipage", "intake.error.missing_tags", "error.unreadable",
    }
    en, zh = catalog("en"), catalog("zh")
    for key in keys:
        assert en.get(key), key
        assert zh.get(key), key
        assert en[key] != zh[key], key
    for name in BAD:
        try:
            load_radiograph(CORPUS[name].data)
        except KneeAIError as exc:
            for lang in ("en", "zh"):
                text = exc.message(lang)
                assert "{" not in text and text != exc.key


def test_flat_image_without_window_is_black_not_nan() -> None:
    ds = base_dataset(np.full((64, 48), 1000, dtype=np.uint16))
    rad = load_radiograph(to_bytes(ds))
    assert np.isfinite(rad.pixels).all() and rad.pixels.max() == 0.0


def test_truncated_mid_dataset_is_a_truncated_header() -> None:
    data = CORPUS["explicit_le"].data
    # Cut inside the element after PatientName, well before the pixel data tag.
    cut = data.index(b"Doe^Jane") + 3
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(data[:cut])
    assert info.value.key == "intake.error.truncated_header"


def test_base_dataset_is_not_mutated_by_encoding() -> None:
    ds = base_dataset(reference_knee(64, 48))
    before = copy.deepcopy(ds)
    encode(ds, "rle")
    assert ds.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID


def test_pixel_data_only_inside_an_icon_sequence_is_no_pixel_data() -> None:
    from pydicom.dataset import Dataset

    ds = base_dataset(reference_knee(64, 48))
    icon = Dataset()
    icon.Rows, icon.Columns, icon.SamplesPerPixel, icon.BitsAllocated = 8, 8, 1, 8
    icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 7, 0
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.PixelData = bytes(64)
    ds.IconImageSequence = [icon]
    for kw in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, kw)
    with pytest.raises(KneeAIError) as info:
        load_radiograph(to_bytes(ds))
    assert type(info.value).__name__ == "NoPixelData"


@pytest.mark.parametrize("keep", [4, 6, 7])
def test_cut_inside_the_pixel_data_tag_is_truncated_pixels(keep: int) -> None:
    data = CORPUS["explicit_le"].data
    at = data.rindex(b"\xe0\x7f\x10\x00")
    with pytest.raises(UnreadableImage) as info:
        load_radiograph(data[: at + keep])
    assert info.value.key == "error.truncated_pixels"


def _j2k_cases() -> dict[str, bytes]:
    from pydicom.uid import JPEG2000, JPEG2000Lossless

    ref = reference_knee()
    signed = base_dataset((ref.astype(np.int16) - 2048), bits_stored=12)  # negative values too
    colour = base_dataset(_rgb_from(ref), photometric="RGB")

    def comp(ds, syntax, **kw):
        ds = copy.deepcopy(ds)
        ds.compress(syntax, **kw)
        return to_bytes(ds)

    return {
        "lossless_12bit": CORPUS["j2k_lossless"].data,
        "lossy_12bit": CORPUS["j2k_lossy"].data,
        "signed_12bit": comp(signed, JPEG2000Lossless),
        "rgb_as_ybr_rct": comp(colour, JPEG2000Lossless),
        "lossy_rgb_as_ybr_ict": comp(colour, JPEG2000, j2k_cr=[10]),
    }


def _rgb_from(ref: np.ndarray) -> np.ndarray:
    g = (ref >> 4).astype(np.uint8)
    return np.stack([g, (g // 2 + 60).astype(np.uint8), (255 - g).astype(np.uint8)], -1)


def test_jpeg2000_is_decoded_by_the_threaded_plugin_with_the_same_pixels_as_openjpeg() -> None:
    import pydicom
    from pydicom.pixels import get_decoder, pixel_array

    from kneeai.io import jpeg2000

    load_radiograph(CORPUS["j2k_lossless"].data)  # registers the plugin
    for syntax in jpeg2000.SYNTAXES:
        assert jpeg2000.PLUGIN in get_decoder(syntax).available_plugins, syntax
    for name, data in _j2k_cases().items():
        ds = pydicom.dcmread(io.BytesIO(data))
        ours = pixel_array(ds, index=0, decoding_plugin=jpeg2000.PLUGIN)
        reference = pixel_array(ds, index=0, decoding_plugin="pylibjpeg")
        assert ours.dtype == reference.dtype and ours.shape == reference.shape, name
        assert np.array_equal(ours, reference), name
    signed = pydicom.dcmread(io.BytesIO(_j2k_cases()["signed_12bit"]))
    assert pixel_array(signed, index=0, decoding_plugin=jpeg2000.PLUGIN).min() < 0  # sign kept


def test_a_failing_preferred_jpeg2000_plugin_falls_back_to_openjpeg(monkeypatch) -> None:
    from kneeai.io import jpeg2000

    load_radiograph(CORPUS["j2k_lossless"].data)

    def broken(src, runner):
        raise RuntimeError("codec crashed")

    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    monkeypatch.setitem(get_decoder(JPEG2000Lossless)._available, jpeg2000.PLUGIN, broken)
    plain = load_radiograph(CORPUS["explicit_le"].data).pixels
    assert np.abs(load_radiograph(CORPUS["j2k_lossless"].data).pixels - plain).max() < 1e-5
