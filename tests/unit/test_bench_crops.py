"""bench crops: knees cut from films in other sites' styles, graded as uploaded files."""
from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image

from kneeai.bench import crops as bench_crops
from kneeai.schemas import CropBox
from tests.unit.test_bench_films import _film_folder


def _decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_each_style_cuts_its_shape_size_and_format_and_stops_at_the_films_edge():
    film = np.linspace(0, 1, 1000 * 800, dtype=np.float32).reshape(1000, 800)
    box = CropBox(300, 200, 400, 400)
    rng = np.random.default_rng(0)
    s = bench_crops.CROP_STYLES
    wide = _decoded(bench_crops.cut_style(film, box, s["wide_1.85_162px_jpeg"], rng))
    assert wide.format == "JPEG" and wide.size[1] == 162 and abs(wide.size[0] / wide.size[1] - 1.85) < 0.05
    portrait = _decoded(bench_crops.cut_style(film, box, s["portrait_1.3_400px_jpeg"], rng))
    assert portrait.size[0] == 400 and abs(portrait.size[1] / portrait.size[0] - 1.3) < 0.05
    native = _decoded(bench_crops.cut_style(film, box, s["looser_1.3x_native"], rng))
    assert native.format == "PNG" and abs(native.size[0] - 520) <= 2 and abs(native.size[1] - 520) <= 2
    # A box at the film's corner: the crop is cut short at the edge, not padded.
    corner = _decoded(bench_crops.cut_style(film, CropBox(0, 0, 400, 400), s["looser_1.3x_native"], rng))
    assert corner.size[0] < 520 and corner.size[1] < 520


def test_crops_of_a_films_knees_are_graded_as_files_and_counted(tmp_path):
    args = argparse.Namespace(data=_film_folder(tmp_path), limit=1, styles=["box_300px", "wide_1.85_162px_jpeg"], seed=0)
    result = bench_crops.run(args)
    assert result["films"] == 1 and result["knees"] == 2
    box, wide = result["rows"]
    assert box["style"] == "box_300px" and box["crops"] == wide["crops"] == 2
    # Square crops of the pipeline's own boxes are one knee each, graded whole.
    assert box["refused"] == 0 and box["taken_for_film"] == 0
    for row in result["rows"]:
        assert row["refused_or_film"] == row["refused"] + row["taken_for_film"]
        assert 0 <= row["same_grade_as_film"] <= 1
