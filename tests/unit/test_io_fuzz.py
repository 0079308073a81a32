"""Property-based fuzzing of intake with hypothesis: whatever bytes arrive, ``load_radiograph``
returns a Radiograph or raises one of our own errors (a KneeAIError with a message in both
languages), never pydicom's, Pillow's, numpy's or zlib's.

Bounded for CI: a fixed number of examples per property, derandomised (the same inputs every run),
no example database written, and a per-example deadline.
"""
from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneeai.errors import KneeAIError
from kneeai.io import load_radiograph
from kneeai.schemas import Radiograph
from tests.dicom_corpus import base_dataset, encode, png_bytes, reference_knee, to_bytes

FUZZ = settings(max_examples=300, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _seeds() -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = reference_knee(48, 40)
        base = base_dataset(ref)
        return [to_bytes(base), to_bytes(base, preamble=False), encode(base, "deflated"), encode(base, "rle"),
                encode(base, "jpegls_lossless"), encode(base, "j2k_lossless"), encode(base, "jpeg_baseline_8bit"),
                png_bytes((ref >> 4).astype(np.uint8))]


SEEDS = _seeds()


def _only_ours(data: bytes) -> None:
    try:
        rad = load_radiograph(data)
    except KneeAIError as exc:
        assert exc.message("en") and exc.message("zh")
        return
    assert isinstance(rad, Radiograph) and rad.pixels.dtype == np.float32
    assert np.isfinite(rad.pixels).all() and rad.pixels.min() >= 0.0 and rad.pixels.max() <= 1.0


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid file with a few bytes overwritten, a slice cut out or inserted, or cut short."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "cut", "insert", "truncate")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_files_give_a_radiograph_or_our_error(data: bytes) -> None:
    _only_ours(data)


@FUZZ
@given(st.sampled_from([b"", b"\0" * 128 + b"DICM", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\0", b"MM\0*",
                        b"RIFF\0\0\0\0WEBP", b"\x02\x00", b"\x08\x00"]),
       st.binary(max_size=2048))
def test_random_bytes_behind_a_known_magic_give_our_error(magic: bytes, tail: bytes) -> None:
    _only_ours(magic + tail)
