"""Intensity normalisation: films of any bit depth or exposure reach the network on one footing."""
from __future__ import annotations

import numpy as np
import torch

from kneeai.grading.predict import to_tensor
from kneeai.imaging.preprocess import normalize_intensity


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
    low, high = to_tensor([crop * 0.3]), to_tensor([crop * 0.3 + 0.6])
    assert torch.allclose(low, high, atol=1e-4)
    assert low.shape == (1, 3, 64, 64)
