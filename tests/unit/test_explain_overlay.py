"""The heatmap overlay and its colour table."""
from __future__ import annotations

import numpy as np
import pytest

from kneeai.explain import colormap, overlay
from kneeai.explain.overlay import INFERNO_ANCHORS


def test_zero_opacity_or_zero_evidence_leaves_the_radiograph_unchanged():
    rng = np.random.default_rng(0)
    grey = rng.random((16, 16)).astype(np.float32)
    expected = np.repeat(np.rint(grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    np.testing.assert_array_equal(overlay(grey, rng.random((16, 16)), 0.0), expected)
    np.testing.assert_array_equal(overlay(grey, np.zeros((16, 16)), 1.0), expected)


def test_full_opacity_at_full_evidence_shows_the_top_colour():
    out = overlay(np.zeros((4, 4)), np.ones((4, 4)), 1.0)
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out[0, 0], np.rint(INFERNO_ANCHORS[-1] * 255).astype(np.uint8))


def test_half_opacity_blends_halfway():
    out = overlay(np.full((2, 2), 0.5), np.ones((2, 2)), 0.5)
    expected = np.rint((0.5 * 0.5 + 0.5 * INFERNO_ANCHORS[-1]) * 255)
    np.testing.assert_array_equal(out[1, 1], expected.astype(np.uint8))


def test_colour_table_is_perceptually_ordered():
    # Luma rises monotonically from dark to light: more evidence always looks brighter,
    # also in grey print.
    values = np.linspace(0, 1, 101)
    luma = colormap(values) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.all(np.diff(luma) > 0)
    np.testing.assert_allclose(colormap(np.array([0.0, 1.0])), INFERNO_ANCHORS[[0, -1]])
    np.testing.assert_allclose(colormap(np.array([-3.0, 7.0])), INFERNO_ANCHORS[[0, -1]])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        overlay(np.zeros((4, 4)), np.zeros((5, 5)), 0.5)
    with pytest.raises(ValueError):
        overlay(np.zeros((4, 4)), np.zeros((4, 4)), 1.5)
