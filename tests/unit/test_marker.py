"""A knee's side read off the film's R / L marker (kneeai.grading.marker), and what trains the reader
(kneeai.training.marker_fit)."""
from __future__ import annotations

import numpy as np
import pytest

from kneeai.grading import marker
from kneeai.grading.marker import (MARKER_SIDE, MARKER_STRIDE, Marker, decode_markers, marker_input,
                                   sides_from_markers)

fit = pytest.importorskip("kneeai.training.marker_fit")

G = MARKER_SIDE // MARKER_STRIDE


def _out(peaks: dict[tuple[int, int, int], float]) -> np.ndarray:
    out = np.full((2, G, G), -8.0, np.float32)
    for (k, r, c), p in peaks.items():
        out[k, r, c] = np.log(p / (1 - p))
    return out


def test_decoding_gives_each_letter_at_its_cell_centre_in_film_pixels_best_first():
    found = decode_markers(_out({(0, 3, 5): 0.9, (1, 40, 60): 0.7, (1, 20, 20): 0.3}), scale=2.0)
    assert [m.letter for m in found] == ["R", "L"]  # 0.3 is below the threshold
    assert (found[0].row, found[0].col) == ((3 + 0.5) * MARKER_STRIDE * 2, (5 + 0.5) * MARKER_STRIDE * 2)
    assert found[0].score == pytest.approx(0.9) and found[1].score == pytest.approx(0.7)
    assert decode_markers(np.full((2, G, G), -8.0, np.float32), 1.0) == []


def test_a_cell_that_peaks_in_both_letters_is_the_higher_ones_and_a_neighbouring_peak_is_the_same_letter():
    found = decode_markers(_out({(0, 10, 10): 0.6, (1, 10, 10): 0.8, (0, 10, 11): 0.7}), 1.0)
    assert [(m.letter, round(m.col)) for m in found] == [("L", 84)]


def test_the_input_is_the_film_at_the_readers_side_in_whole_cells_and_mirrors_with_the_film():
    rng = np.random.default_rng(0)
    film = rng.uniform(100, 4000, size=(700, 1390)).astype(np.float32)
    x, (sy, sx) = marker_input(film)
    assert x.shape == (1, 1, 256, MARKER_SIDE) and x.dtype == np.float32
    assert (sy, sx) == pytest.approx((700 / 256, 1390 / MARKER_SIDE))
    assert x.min() >= -0.5 and x.max() <= 0.5 and x.std() > 0.1
    knees = _bilateral(laterality=None).pixels
    x, _ = marker_input(knees)
    mirrored, _ = marker_input(np.ascontiguousarray(knees[:, ::-1]))
    assert np.percentile(np.abs(mirrored - x[..., ::-1]), 99) < 0.01  # resampling rounds a little differently


R, L = "R", "L"


@pytest.mark.parametrize("letters, want", [
    ([(R, 100)], [R, L]),            # R on the viewer's left: the usual display
    ([(L, 900)], [R, L]),            # L on the viewer's right: the same
    ([(R, 100), (L, 900)], [R, L]),
    ([(R, 900)], [L, R]),            # R on the viewer's right: shown the other way round
    ([(L, 80), (R, 920)], [L, R]),
    ([(R, 100), (R, 900)], None),    # they disagree: the markers say nothing
    ([(L, 500)], None),              # on the midline (some sites put it between the knees)
    ([(L, 520), (R, 60)], [R, L]),   # the midline letter does not vote
    ([(L, 420)], None),              # nor one in the gap between the legs, nearer one knee
    ([], None),
])
def test_the_letters_off_the_midline_say_which_knee_is_which(letters, want):
    markers = [Marker(letter, 50.0, float(col), 0.9) for letter, col in letters]
    assert sides_from_markers(markers, [300.0, 700.0]) == want
    assert sides_from_markers(markers, [700.0, 300.0]) == want  # the knees in any order


def test_only_a_clear_letter_turns_a_films_sides_over():
    weak = marker.SWAP_MIN_SCORE - 0.1
    assert sides_from_markers([Marker("R", 50.0, 900.0, weak)], [300.0, 700.0]) is None  # the position stands
    assert sides_from_markers([Marker("R", 50.0, 900.0, weak), Marker("L", 50.0, 80.0, marker.SWAP_MIN_SCORE)],
                              [300.0, 700.0]) == ["L", "R"]
    assert sides_from_markers([Marker("R", 50.0, 100.0, 0.55)], [300.0, 700.0]) == ["R", "L"]


def test_a_single_knee_takes_its_one_letter():
    assert sides_from_markers([Marker("L", 10.0, 10.0, 0.8)], [400.0]) == ["L"]
    assert sides_from_markers([Marker("R", 10.0, 10.0, 0.8), Marker("R", 90.0, 10.0, 0.6)], [400.0]) == ["R"]
    assert sides_from_markers([Marker("R", 10.0, 10.0, 0.8), Marker("L", 90.0, 10.0, 0.6)], [400.0]) is None
    assert sides_from_markers([Marker("R", 10.0, 10.0, 0.8)], []) is None


def test_a_tight_crop_is_not_read(monkeypatch):
    def fail(weights_dir=None):
        raise AssertionError("a 224-pixel crop has no room for a marker")

    monkeypatch.setattr(marker, "load_marker_reader", fail)
    assert marker.read_markers(np.zeros((224, 224), np.float32)) is None
    assert marker.read_markers(np.zeros((marker.MIN_READ_SIDE - 1, 100), np.float32)) is None


# ---------------------------------------------------------------------------------------------- #
# In the pipeline (the reader mocked): the header first, then the marker, then the position.


def _bilateral(**kwargs):
    from tests.unit.test_localize import BILATERAL, _film

    return _film(BILATERAL, (900, 1400), False, **kwargs)


def test_a_film_whose_marker_says_it_is_mirrored_gets_its_sides_swapped(monkeypatch):
    from kneeai.pipeline import knees

    rad = _bilateral(laterality=None)
    monkeypatch.setattr(marker, "read_markers", lambda px: [Marker("R", 100.0, 1300.0, 0.9)])
    got = [(k.index, k.laterality, k.laterality_source) for k in knees(rad, "film")]
    assert got == [(1, "L", "marker"), (2, "R", "marker")]
    assert [k.crop.laterality for k in knees(rad, "film")] == ["L", "R"]


def test_a_marker_that_agrees_with_the_position_is_named_as_the_source(monkeypatch):
    from kneeai.pipeline import knees

    monkeypatch.setattr(marker, "read_markers", lambda px: [Marker("R", 100.0, 100.0, 0.9)])
    got = [(k.laterality, k.laterality_source) for k in knees(_bilateral(laterality=None), "film")]
    assert got == [("R", "marker"), ("L", "marker")]


def test_without_a_clear_marker_the_position_gives_the_sides(monkeypatch):
    from kneeai.pipeline import knees

    for read in (lambda px: None, lambda px: [], lambda px: [Marker("R", 9.0, 100.0, 0.9), Marker("R", 9.0, 1300.0, 0.9)]):
        monkeypatch.setattr(marker, "read_markers", read)
        got = [(k.laterality, k.laterality_source) for k in knees(_bilateral(laterality=None), "film")]
        assert got == [("R", "position"), ("L", "position")]


def test_the_dicom_header_wins_over_the_marker_and_the_reader_is_not_asked(monkeypatch):
    from kneeai.pipeline import knees

    def fail(px):
        raise AssertionError("the header says which knee it is")

    monkeypatch.setattr(marker, "read_markers", fail)
    rad = _bilateral(laterality=None, meta={"PatientOrientation": "L\\F"})
    assert {k.laterality_source for k in knees(rad, "film")} == {"dicom"}


def test_a_single_knee_takes_its_marker_where_its_anatomy_agrees_and_is_left_to_the_user_where_not(monkeypatch):
    from kneeai.io import load_radiograph
    from kneeai.pipeline import knees
    from tests.unit.test_localize import KNEES

    crop = load_radiograph(KNEES / "kl2_9015402R.webp")  # a right knee, no header side
    monkeypatch.setattr(marker, "read_markers", lambda px: [])
    assert [(k.laterality, k.laterality_source) for k in knees(crop, "crop")] == [("R", "anatomy")]
    monkeypatch.setattr(marker, "read_markers", lambda px: [Marker("R", 20.0, 20.0, 0.9)])
    assert [(k.laterality, k.laterality_source) for k in knees(crop, "crop")] == [("R", "marker")]
    # An "L" on a knee that looks right: a mirrored export, or a misread letter. Not guessed.
    monkeypatch.setattr(marker, "read_markers", lambda px: [Marker("L", 20.0, 20.0, 0.9)])
    (knee,) = knees(crop, "crop")
    assert (knee.laterality, knee.laterality_source, knee.crop.laterality) == (None, None, None)


# ---------------------------------------------------------------------------------------------- #
# The shipped reader, on films built from the example knees with a letter rendered on them.


def _with_letter(pixels: np.ndarray, letter: str, row: int, col: int, seed: int, mirror: bool = False) -> np.ndarray:
    """``pixels`` with a boxed ``letter`` (about 4% of the long side, white on grey) at (row, col)."""
    from PIL import Image, ImageDraw, ImageFont

    h = int(0.04 * max(pixels.shape))
    box = Image.new("F", (h, h), 0.35)
    font = ImageFont.truetype(fit.fonts()[seed % len(fit.fonts())], int(h * 0.9)) if fit.fonts() else \
        ImageFont.load_default(size=int(h * 0.9))
    ImageDraw.Draw(box).text((h // 2, h // 2), letter, fill=1.0, font=font, anchor="mm")
    tile = np.asarray(box, np.float32)[:, ::-1] if mirror else np.asarray(box, np.float32)
    out = pixels.copy()
    out[row - h // 2 : row - h // 2 + h, col - h // 2 : col - h // 2 + h] = tile * float(pixels.max() or 1.0)
    return out


@pytest.fixture(scope="module")
def reader():
    found = marker.load_marker_reader()
    assert found is not None, "weights/marker_reader.onnx is shipped"
    return found


@pytest.mark.parametrize("letter, col, seed", [("R", 120, 0), ("L", 1290, 1), ("R", 1300, 2), ("L", 110, 3)])
def test_the_shipped_reader_reads_a_boxed_letter_beside_a_knee(reader, letter, col, seed):
    rad = _bilateral(laterality=None)
    found = reader(_with_letter(rad.pixels, letter, 150, col, seed))
    assert [m.letter for m in found] == [letter]
    assert abs(found[0].row - 150) < 30 and abs(found[0].col - col) < 30


def test_the_shipped_reader_reads_nothing_on_knees_without_markers_or_on_blank_and_noise_images(reader):
    from tests.unit.test_localize import BILATERAL, _film

    rng = np.random.default_rng(0)
    assert reader(_film(BILATERAL, (900, 1400), False, laterality=None).pixels) == []
    assert reader(_film(BILATERAL[:1], (1600, 700), False, laterality=None).pixels) == []
    assert reader(np.zeros((800, 1000), np.float32)) == []
    assert reader(rng.random((800, 1000)).astype(np.float32)) == []


def test_a_film_mirrored_with_its_marker_keeps_each_knees_true_side(monkeypatch):
    """The whole path: a film with an R beside the patient's right knee, as given and mirrored (as an
    export may flip it): the position alone would name the mirrored film's knees wrongly."""
    from dataclasses import replace

    from kneeai.pipeline import knees

    rad = _bilateral(laterality=None)
    marked = replace(rad, pixels=_with_letter(rad.pixels, "R", 150, 120, 4))
    flipped = replace(rad, pixels=np.ascontiguousarray(marked.pixels[:, ::-1]))
    assert [(k.laterality, k.laterality_source) for k in knees(marked, "film")] == [("R", "marker"), ("L", "marker")]
    assert [(k.laterality, k.laterality_source) for k in knees(flipped, "film")] == [("L", "marker"), ("R", "marker")]


# ---------------------------------------------------------------------------------------------- #
# Training.


def test_rendered_patches_put_a_target_peak_on_every_side_letter():
    rng = np.random.default_rng(3)
    bgs = [rng.uniform(0, 0.3, size=(200, 260)).astype(np.float32)]
    n = 0
    for _ in range(40):
        img, target = fit.sample(bgs, rng)
        assert img.shape == (fit.PATCH, fit.PATCH) and 0 <= img.min() and img.max() <= 1
        assert target.shape == (2, fit.PATCH // MARKER_STRIDE, fit.PATCH // MARKER_STRIDE)
        assert target.max() <= 1
        n += int((target == 1).sum())
    assert n >= 20  # about one letter a patch; a bright bare letter on a dark background always shows


def test_fit_then_ship_registers_a_reader_that_loads(tmp_path):
    import shutil

    from kneeai.config import SETTINGS
    from tests.unit.test_localize import KNEES as EXAMPLES

    data = tmp_path / "kl" / "train" / "0"
    data.mkdir(parents=True)
    for p in sorted(EXAMPLES.glob("*.webp"))[:4]:
        shutil.copy(p, data / p.name)
    wdir = tmp_path / "weights"
    shutil.copytree(SETTINGS.weights_dir, wdir)
    result = fit.main(["fit", "--data", str(tmp_path / "kl"), "--run", str(tmp_path / "run"), "--samples", "128",
                       "--backgrounds", "4", "--epochs", "1", "--ship", "--weights-dir", str(wdir)])
    assert result == 0
    scored = (tmp_path / "run" / "result.json").read_text()
    assert '"found_right"' in scored
    loaded = marker.load_marker_reader(wdir)
    assert loaded is not None and loaded.model_id.startswith("marker-reader-")
    assert isinstance(loaded(np.zeros((300, 400), np.float32)), list)


def test_a_reader_that_fails_its_sha256_check_or_is_not_listed_is_not_used(tmp_path, caplog):
    import json
    import shutil

    from kneeai.config import SETTINGS

    wdir = tmp_path / "weights"
    shutil.copytree(SETTINGS.weights_dir, wdir)
    with open(wdir / marker.MARKER_FILE, "ab") as f:
        f.write(b"tampered")
    assert marker.load_marker_reader(wdir) is None
    assert "marker_reader.onnx not usable" in caplog.text
    manifest = json.loads((wdir / "manifest.json").read_text())
    del manifest[marker.MARKER_FILE]
    (wdir / "manifest.json").write_text(json.dumps(manifest))
    marker.load_marker_reader.cache_clear()
    assert marker.load_marker_reader(wdir) is None
