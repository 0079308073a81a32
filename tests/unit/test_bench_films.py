"""bench films: the comparison of a film's knees before and after an acquisition change."""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from kneeai.bench import films as bench_films
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples" / "knees").glob("*.webp"))


def _film_folder(tmp_path):
    # Two standing knees side by side with shafts above and below, as a bilateral AP film.
    knees = [np.asarray(Image.open(p).convert("L"), np.float32) for p in EXAMPLES[:2]]
    film = np.pad(np.concatenate(knees, axis=1), ((300, 300), (40, 40)), mode="reflect")
    folder = tmp_path / "films"
    folder.mkdir()
    Image.fromarray(film.astype(np.uint8)).save(folder / "bilateral.png")
    Image.fromarray(film[:, ::-1].astype(np.uint8)).save(folder / "mirrored.png")
    return folder


def test_an_unchanged_film_is_graded_the_same_and_a_change_is_compared_knee_by_knee(tmp_path, monkeypatch):
    monkeypatch.setitem(bench_films.FILM_CHANGES, "identity", bench_films.Change(lambda r: r, bench_films._same_place))
    args = argparse.Namespace(data=_film_folder(tmp_path), limit=0, changes=["identity", "black_border_10pct"], per_film=False)
    result = bench_films.run(args)
    given, same, border = result["rows"]
    assert given["run"] == "as given" and given["films"] == 2 and given["knees"] == 4
    assert result["detail"]["as given"]["films_by_knees"] == {"2": 2}
    assert same["same_knee_count"] == 1.0 and same["same_grade"] == 1.0 and same["refused_changed"] == 0.0
    assert same["box_offset_p50"] == same["box_offset_p90"] == 0.0
    # A black border is trimmed: the boxes land on the same anatomy, mapped back through the border.
    assert border["run"] == "black_border_10pct" and border["same_knee_count"] == 1.0
    assert border["box_offset_p90"] < 0.1  # the bar: within 10% of a box side
    assert [f["knees"] for f in result["per_film"]] == [2, 2]


def test_a_mirrored_film_is_compared_knee_for_knee_and_keeps_its_sides_only_where_a_marker_says(tmp_path, monkeypatch):
    from kneeai.grading import marker
    from kneeai.grading.marker import Marker

    args = argparse.Namespace(data=_film_folder(tmp_path), limit=0, changes=["mirrored"], per_film=False)
    monkeypatch.setattr(marker, "read_markers", lambda px: [])
    given, mirrored = bench_films.run(args)["rows"]
    # The same anatomy, mapped back across the flip; the position names each knee the other side.
    assert mirrored["same_knee_count"] == 1.0 and mirrored["box_offset_p90"] < 0.1
    assert mirrored["same_side"] == 0.0

    def read(px):
        # A stand-in reader that finds the film's "R" where its brightest top-row pixel is: a
        # marker drawn on the film moves with it when the film is flipped.
        return [Marker("R", 5.0, float(np.argmax(px[0])), 0.9)]

    folder = tmp_path / "marked"
    folder.mkdir()
    film = np.asarray(Image.open(args.data / "bilateral.png"), np.float32)
    film[0] = 0
    film[0, 10] = 255  # the patient's right: the viewer's left of the film as given
    Image.fromarray(film.astype(np.uint8)).save(folder / "marked.png")
    monkeypatch.setattr(marker, "read_markers", read)
    result = bench_films.run(argparse.Namespace(data=folder, limit=0, changes=["mirrored"], per_film=False))
    assert result["rows"][1]["same_side"] == 1.0
    assert result["detail"]["as given"]["side_sources"] == {"marker": 2}
    assert result["per_film"][0]["sides"] == ["R", "L"]
