"""Grad-CAM and occlusion on tiny deterministic models with known answers, and the Adebayo et al.
(2018) sanity check on the shipped architecture."""
from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from kneeai.explain import explain, gradcam, occlusion
from kneeai.grading.model import build_model
from kneeai.grading.weights import Grader, load_grader
from kneeai.schemas import GradeResult, KneeCrop, ModelInfo

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "knees").glob("*.webp"))
CELL = 32  # 224 px / 7 cells, like the grader's last block


class PatchBrightness(nn.Module):
    """A 7x7 "feature map" of each 32 px cell's mean brightness (channel 0) and its negative
    (channel 1); grade 4's logit reads channel 0, grade 0's reads channel 1, the rest are 0.

    Grad-CAM for grade 4 is then exactly relu(brightness map) / 49: evidence sits wherever the
    input is bright.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 2, kernel_size=CELL, stride=CELL, bias=False)
        with torch.no_grad():
            self.features.weight.zero_()
            self.features.weight[0] = 1.0 / (3 * CELL * CELL)
            self.features.weight[1] = -1.0 / (3 * CELL * CELL)
        self.head = nn.Linear(2, 5, bias=False)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.weight[4, 0] = 1.0
            self.head.weight[0, 1] = 1.0
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.features(x).mean((2, 3)))


def _tiny() -> Grader:
    return Grader(PatchBrightness().eval(), ModelInfo("tiny", "0" * 64), 1.0)


def _evidence_crop(row_cell: int = 1, col_cell: int = 1, laterality=None) -> KneeCrop:
    x = np.full((224, 224), 0.2, np.float32)
    x[row_cell * CELL : (row_cell + 1) * CELL, col_cell * CELL : (col_cell + 1) * CELL] = 1.0
    return KneeCrop(pixels=x, laterality=laterality, box=None)


def _quadrant_shares(m: np.ndarray) -> dict[str, float]:
    h, w = m.shape
    total = m.sum()
    return {"upper_left": m[: h // 2, : w // 2].sum() / total, "upper_right": m[: h // 2, w // 2 :].sum() / total,
            "lower_left": m[h // 2 :, : w // 2].sum() / total, "lower_right": m[h // 2 :, w // 2 :].sum() / total}


def test_gradcam_equals_the_analytic_map_of_the_tiny_model():
    grader = _tiny()
    e = gradcam(_evidence_crop(1, 1), grader, target_grade=4, layer=grader.model.features)
    # After percentile normalisation the background is 0 and the evidence 1, so only cell (1, 1)
    # has positive brightness; relu leaves a single non-zero cell, upsampled bilinearly.
    cells = torch.zeros(1, 1, 7, 7)
    cells[0, 0, 1, 1] = 1.0
    expected = F.interpolate(cells, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].numpy()
    expected /= expected.max()
    np.testing.assert_allclose(e.heatmap, expected, atol=1e-6)
    assert e.method == "gradcam" and e.target_grade == 4
    assert e.heatmap.shape == (224, 224) and e.heatmap.dtype == np.float32
    assert e.heatmap.min() == 0.0 and e.heatmap.max() == 1.0


@pytest.mark.parametrize("cell", [(1, 1), (1, 5), (5, 1), (5, 5)])
def test_gradcam_peaks_where_the_evidence_is(cell):
    grader = _tiny()
    e = gradcam(_evidence_crop(*cell), grader, target_grade=4, layer=grader.model.features)
    r, c = np.unravel_index(np.argmax(e.heatmap), e.heatmap.shape)
    assert (r // CELL, c // CELL) == cell
    quadrant = ("upper" if cell[0] < 3 else "lower") + "_" + ("left" if cell[1] < 3 else "right")
    # The mirrored pass is mirrored back: no ghost on the other side.
    assert _quadrant_shares(e.heatmap)[quadrant] > 0.99


def test_gradcam_follows_the_graders_flip_averaging():
    # A model that only sees the left half of each cell: a stripe in the left half of cell
    # (1, 1) is seen on the plain crop, a dimmer one in the right half of cell (1, 5) only on
    # the mirrored crop, where it lands in cell (1, 1) and is mirrored back to cell (1, 5).
    model = PatchBrightness().eval()
    with torch.no_grad():
        model.features.weight[:, :, :, CELL // 2 :] = 0.0
    x = np.full((224, 224), 0.2, np.float32)
    x[32:64, 32:48] = 1.0
    x[32:64, 176:192] = 0.7
    crop = KneeCrop(pixels=x, laterality=None, box=None)
    plain_only = Grader(model, ModelInfo("tiny", "0" * 64), 1.0, flip_average=False)
    averaged = Grader(model, ModelInfo("tiny", "0" * 64), 1.0, flip_average=True)
    single = gradcam(crop, plain_only, target_grade=4, layer=model.features).heatmap
    both = gradcam(crop, averaged, target_grade=4, layer=model.features).heatmap
    assert _quadrant_shares(single)["upper_left"] > 0.99
    assert 0.2 < _quadrant_shares(both)["upper_right"] < 0.6
    r, c = np.unravel_index(np.argmax(both), both.shape)
    assert (r // CELL, c // CELL) == (1, 1)


def test_gradcam_defaults_to_the_predicted_grade_and_can_show_no_evidence():
    grader = _tiny()
    crop = _evidence_crop(2, 2)
    # A mostly dark crop: channel 1 (negative brightness) wins, so grade 0 is predicted.
    assert gradcam(crop, grader, layer=grader.model.features).target_grade == 0
    # Grade 2's logit ignores the features: no evidence anywhere, and no regions.
    e = gradcam(crop, grader, target_grade=2, layer=grader.model.features)
    assert e.heatmap.max() == 0.0 and e.regions == ()


def test_occlusion_finds_the_evidence_and_batches_its_perturbations():
    grader = _tiny()
    crop = _evidence_crop(1, 5)
    grader.model.calls = 0
    e = occlusion(crop, grader, target_grade=4)
    # One forward for the plain input plus 49 occluded copies in batches of 16.
    assert grader.model.calls == 1 + 4
    r, c = np.unravel_index(np.argmax(e.heatmap), e.heatmap.shape)
    assert (r // CELL, c // CELL) == (1, 5)
    assert _quadrant_shares(e.heatmap)["upper_right"] > 0.99
    fine = occlusion(crop, grader, target_grade=4, stride=16)
    assert _quadrant_shares(fine.heatmap)["upper_right"] > 0.99 and fine.method == "occlusion"


def test_explain_dispatches_and_explains_the_shown_grade():
    grader = _tiny()
    crop = _evidence_crop(1, 1)
    shown = GradeResult(kl_grade=4, probabilities=(0, 0, 0, 0, 1.0), expected_grade=4.0, entropy=0.0,
                        flip_disagreement=0.0, model=grader.info)
    e = explain(crop, shown, method="occlusion", grader=grader)
    assert e.method == "occlusion" and e.target_grade == 4
    with pytest.raises(ValueError):
        explain(crop, shown, method="lime", grader=grader)


# ------------------------------------------------------------------ sanity check on the real network


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import rankdata

    ra, rb = rankdata(a.ravel()), rankdata(b.ravel())
    if ra.std() == 0 or rb.std() == 0:  # a map that vanished has nothing in common with the original
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def knee_crops() -> list[KneeCrop]:
    crops = []
    for p in EXAMPLES:
        with Image.open(p) as im:
            crops.append(KneeCrop(pixels=np.asarray(im.convert("L"), np.float32) / 255.0, laterality=p.stem[-1], box=None))
    return crops


def _reinitialise(model: nn.Module, parts: list[nn.Module], seed: int) -> None:
    torch.manual_seed(seed)
    for part in parts:
        for m in part.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()


def test_sanity_check_randomised_weights_change_the_map(knee_crops):
    """Adebayo et al. 2018: a map that survives weight randomisation explains the image, not the
    model. Cascading randomisation from the top (classifier, head convolution and the explained
    block) and a fully random network must both decorrelate the map (mean Spearman rank
    correlation over the example knees < 0.5), while a tiny change of the input must not."""
    grader = load_grader()
    top = copy.deepcopy(grader.model)
    _reinitialise(top, [top._fc, top._conv_head, top._bn1, top._blocks[-1]], seed=123)
    torch.manual_seed(7)
    full = build_model(pretrained=False).eval()
    rng = np.random.default_rng(0)
    top_rho, full_rho, noise_rho = [], [], []
    for crop in knee_crops:
        original = gradcam(crop, grader)
        g = original.target_grade
        top_rho.append(_rho(original.heatmap, gradcam(crop, replace(grader, weights=top), g).heatmap))
        full_rho.append(_rho(original.heatmap, gradcam(crop, replace(grader, weights=full), g).heatmap))
        noisy = KneeCrop(pixels=np.clip(crop.pixels + rng.normal(0, 0.01, crop.pixels.shape), 0, 1).astype(np.float32),
                         laterality=crop.laterality, box=None)
        noise_rho.append(_rho(original.heatmap, gradcam(noisy, grader, g).heatmap))
    assert np.mean(top_rho) < 0.5 and np.median(top_rho) < 0.5, top_rho
    assert np.mean(full_rho) < 0.5 and np.median(full_rho) < 0.5, full_rho
    assert np.mean(noise_rho) > 0.8, noise_rho


def test_real_network_maps_are_normalised_and_sum_to_one(knee_crops):
    grader = load_grader()
    for crop in knee_crops[:2]:
        for method in ("gradcam", "occlusion"):
            e = explain(crop, method=method, grader=grader)
            assert e.heatmap.shape == (224, 224) and 0.0 <= e.heatmap.min() and e.heatmap.max() == pytest.approx(1.0)
            assert sum(r.share for r in e.regions) == pytest.approx(1.0)
            assert [r.share for r in e.regions] == sorted((r.share for r in e.regions), reverse=True)


def test_a_grader_trained_larger_explains_in_the_crops_own_pixels():
    from dataclasses import replace

    # The crop is upsampled to 288 px for the network; both maps come back at the crop's 224 px,
    # with the evidence where it is on the crop.
    grader = replace(_tiny(), input_size=288)
    crop = _evidence_crop(4, 2)
    for e in (gradcam(crop, grader, target_grade=4, layer=grader.model.features), occlusion(crop, grader, target_grade=4, window=36)):
        assert e.heatmap.shape == crop.pixels.shape
        r, c = np.unravel_index(np.argmax(e.heatmap), e.heatmap.shape)
        assert abs(r - 4.5 * CELL) <= CELL and abs(c - 2.5 * CELL) <= CELL, e.method
