"""Intensity normalisation: films of any bit depth or exposure reach the network on one footing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kneeai.grading.inputs import input_array
from kneeai.grading.model import crops_to_input
from kneeai.imaging.preprocess import normalize_intensity, normalize_intensity_array


def _knee_like(seed=0, size=64):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    return (np.sin(xx / 7.0) + np.cos(yy / 5.0) + rng.normal(0, 0.2, (size, size))).astype(np.float32)


def test_bit_depth_and_exposure_do_not_change_the_result():
    img = _knee_like()
    u8 = np.round((img - img.min()) / np.ptp(img) * 255)
    u16 = u8 * 257.0 + 1000  # the same film stored as 16-bit with an offset
    a = normalize_intensity(torch.from_numpy(u8).view(1, 1, 64, 64))
    b = normalize_intensity(torch.from_numpy(u16).view(1, 1, 64, 64))
    assert torch.allclose(a, b, atol=1e-5)
    assert float(a.min()) == 0.0 and float(a.max()) == 1.0
    # The 1st and 99th percentiles are the clipping points: about 1% of pixels at each end.
    assert 0.005 < float((a == 0).float().mean()) < 0.03
    assert 0.005 < float((a == 1).float().mean()) < 0.03


def test_each_image_of_a_batch_is_normalised_on_its_own_and_a_flat_image_gives_zeros():
    dark, bright = _knee_like(1) * 0.1, _knee_like(2) * 50 + 400
    flat = np.full((64, 64), 7.0, np.float32)
    batch = normalize_intensity(torch.from_numpy(np.stack([dark, bright, flat])).unsqueeze(1))
    alone = normalize_intensity(torch.from_numpy(bright).view(1, 1, 64, 64))
    assert torch.allclose(batch[1], alone[0])
    assert not torch.allclose(batch[0], batch[1])
    assert torch.count_nonzero(batch[2]) == 0


def test_network_input_is_the_same_for_an_under_and_an_over_exposed_copy():
    crop = (_knee_like(3) + 3) / 6
    low, high = crops_to_input([crop * 0.3]), crops_to_input([crop * 0.3 + 0.6])
    assert torch.allclose(low, high, atol=1e-4)
    assert low.shape == (1, 3, 64, 64)


def test_the_numpy_normalisation_that_grading_runs_matches_the_torch_one_training_runs():
    rng = np.random.default_rng(4)
    batch = np.stack([_knee_like(5) * 40 + 900, _knee_like(6) * 0.01, np.full((64, 64), 3.0, np.float32),
                      rng.uniform(0, 1, (64, 64)).astype(np.float32)]).astype(np.float32)
    by_torch = normalize_intensity(torch.from_numpy(batch).unsqueeze(1))[:, 0].numpy()
    by_numpy = normalize_intensity_array(batch)
    assert by_numpy.dtype == np.float32 and by_numpy.shape == batch.shape
    assert np.abs(by_torch - by_numpy).max() < 1e-5
    assert np.count_nonzero(by_numpy[2]) == 0


def test_the_network_input_is_resampled_to_a_larger_graders_side():
    crop = (_knee_like(7) + 3) / 6
    x = input_array([crop, crop[::-1]], 96)
    assert x.shape == (2, 3, 96, 96) and x.dtype == np.float32
    # The three channels are one grey image standardised with three ImageNet means and deviations.
    assert not np.allclose(x[:, 0], x[:, 1])
    assert np.allclose(x[:, 0] * 0.229 + 0.485, x[:, 1] * 0.224 + 0.456, atol=1e-5)


@pytest.mark.parametrize("size", [None, 96])
def test_training_and_inference_build_the_same_network_input(size):
    """Training builds the input in PyTorch (model.network_input, after augmentation), inference in
    numpy (inputs.input_array, so grading never imports PyTorch): one convention, the same numbers."""
    from kneeai.grading.model import network_input

    crops = [(_knee_like(s) + 3) / 6 for s in (8, 9)]
    by_training = network_input(normalize_intensity(torch.from_numpy(np.stack(crops)).unsqueeze(1)), size).numpy()
    by_inference = input_array(crops, size)
    assert by_training.shape == by_inference.shape == (2, 3, size or 64, size or 64)
    assert np.abs(by_training - by_inference).max() < 1e-4
