"""The film figure the Grade page draws boxes on, and the box a dragged rectangle asks for."""
from __future__ import annotations

import numpy as np

from kneeai.imaging.draw import box_from_selection, film_box_figure
from kneeai.schemas import CropBox


def test_a_dragged_rectangle_becomes_a_square_on_its_centre_clipped_to_the_film():
    # Dragged from bottom-right to top-left: the order of the corners does not matter.
    box = box_from_selection({"box": [{"x": [300, 100], "y": [250, 150]}]}, (600, 800))
    assert box == CropBox(top=100, left=100, height=200, width=200)
    # Near the edge, the square slides inside the film instead of leaving it.
    edge = box_from_selection({"box": [{"x": [700, 820], "y": [-20, 60]}]}, (600, 800))
    assert edge.left + edge.width <= 800 and edge.top >= 0 and edge.width == 120
    # A tiny flick gives the smallest box, and the latest rectangle counts.
    many = box_from_selection({"box": [{"x": [0, 400], "y": [0, 400]}, {"x": [50, 52], "y": [50, 51]}]}, (600, 800))
    assert many.width == 32


def test_no_rectangle_means_no_box():
    assert box_from_selection(None, (100, 100)) is None
    assert box_from_selection({"box": []}, (100, 100)) is None
    assert box_from_selection({"box": [{"x": [1], "y": [2]}]}, (100, 100)) is None


def test_the_figure_is_in_film_pixels_with_one_rectangle_per_box_in_box_select_mode():
    pixels = np.random.default_rng(0).random((1200, 900)).astype(np.float32)
    boxes = [CropBox(100, 50, 300, 300), CropBox(500, 450, 320, 320)]
    fig = film_box_figure(pixels, boxes, ["#1", "#2"])
    assert fig.layout.dragmode == "select"
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.y0, r.x1, r.y1) for r in rects] == [(50, 100, 350, 400), (450, 500, 770, 820)]
    image = fig.data[0]
    # The film is shown downsampled, but its axis runs in the film's own pixels.
    assert image.z.shape[0] * image.dy >= 1200 and image.dy > 1
    assert tuple(fig.layout.yaxis.range) == (1200, 0)
