"""Every bad file of the corpus (tests/unit/bad_files.py) is refused with its own message, and the
deflate bomb and the 30,000 x 30,000 header are refused in bounded memory (tracemalloc peak)."""
from __future__ import annotations

import time
import tracemalloc

import pytest

from kneeai.errors import ImageTooLarge
from kneeai.io import load_radiograph
from kneeai.io.dicom import MAX_INFLATED_BYTES, inflated_size_at_most
from tests.unit.bad_files import BOMB_INFLATED_BYTES, bad_files, deflate_bomb, header_30000

FILES = bad_files()


def test_the_corpus_has_at_least_40_bad_files_with_a_message_each():
    assert len(FILES) >= 40
    assert sum(1 for f in FILES.values() if f.says) >= 40


@pytest.mark.parametrize("name", sorted(FILES))
def test_bad_file_gets_its_message(name):
    case = FILES[name]
    with pytest.raises(case.error) as caught:
        load_radiograph(case.data)
    exc = caught.value
    assert type(exc) is case.error and exc.key == case.key
    if case.says:
        assert exc.message("en") == case.says
    zh = exc.message("zh")
    assert zh and zh != exc.message("en") and "{" not in zh and "Traceback" not in zh


def _peak(fn) -> tuple[int, float]:  # noqa: ANN001
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, elapsed


def test_deflate_bomb_is_refused_before_inflating_with_bounded_memory():
    bomb = deflate_bomb()
    assert len(bomb) < 2 * 2**20 and BOMB_INFLATED_BYTES > 3 * MAX_INFLATED_BYTES
    holder: list[BaseException] = []

    def run() -> None:
        try:
            load_radiograph(bomb)
        except ImageTooLarge as exc:
            holder.append(exc)

    peak, elapsed = _peak(run)
    assert holder and holder[0].key == "intake.error.inflated_too_large"
    assert "would inflate to more than 321 MB" in holder[0].message("en")
    # Measured: ~4 MiB peak (1 MiB inflate chunks; the file itself exists before tracing starts) against
    # the 1 GiB that pydicom's dcmread would have allocated; ~0.3-1.5 s on 2 shared cores.
    print(f"deflate bomb: {len(bomb)} bytes -> {BOMB_INFLATED_BYTES} inflated; peak {peak / 2**20:.2f} MiB, {elapsed:.2f} s")
    assert peak < 16 * 2**20
    assert elapsed < 30


def test_a_30000_by_30000_header_is_refused_from_the_header_with_bounded_memory():
    for deflated in (False, True):
        data = header_30000(deflated)
        holder: list[BaseException] = []

        def run() -> None:
            try:
                load_radiograph(data)
            except ImageTooLarge as exc:
                holder.append(exc)

        peak, elapsed = _peak(run)
        assert holder and holder[0].key == "error.too_large"
        assert holder[0].message("en").startswith("The image is too large (900000000 pixels; the limit is 80000000)")
        print(f"30000x30000 header (deflated={deflated}): {len(data)} bytes; peak {peak / 2**20:.2f} MiB, {elapsed:.3f} s")
        assert peak < 16 * 2**20  # a decoded 16-bit 30000 x 30000 film would be 1.8 GB


def test_inflated_size_is_counted_without_holding_the_output():
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = c.compress(b"\0" * 5_000_000) + c.flush()
    assert inflated_size_at_most(stream, 5_000_000) == 5_000_000
    assert inflated_size_at_most(stream, 4_999_999) is None
    assert inflated_size_at_most(b"not a deflate stream", 100) == 0
