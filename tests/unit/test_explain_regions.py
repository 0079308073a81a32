"""Where the evidence sits: joint line, region geometry, medial/lateral naming and the words."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kneeai.explain import describe, find_joint_row, region_masks, region_shares
from kneeai.explain.regions import BAND_ABOVE, BAND_BELOW, REGION_NAMES, densest_region, focus_region
from kneeai.i18n import t
from kneeai.schemas import Explanation

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "knees").glob("*.webp"))
H = W = 224


def _synthetic_knee(joint_row: int = 120) -> np.ndarray:
    """Bright femur and tibia with a dark 6 px joint space at ``joint_row``."""
    x = np.full((H, W), 0.8, np.float32)
    x[joint_row - 3 : joint_row + 3, 20:204] = 0.2
    return x


def _blob(row: int, col: int, sigma: float = 6.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / (2 * sigma**2)).astype(np.float32)


def _explanation(heat: np.ndarray, pixels: np.ndarray, laterality) -> Explanation:
    return Explanation(heatmap=heat, method="gradcam", target_grade=2, regions=region_shares(heat, pixels, laterality))


def test_joint_row_is_found_in_a_synthetic_knee():
    for row in (90, 120, 150):
        assert abs(find_joint_row(_synthetic_knee(row)) - row) <= 2


# The rows of the dark tibiofemoral gap in each example, read by eye (both compartments).
JOINT_GAP_ROWS = {
    "kl0_9006140L": (132, 146), "kl1_9003380L": (122, 137), "kl1_9003380R": (110, 126),
    "kl2_9015402R": (115, 136), "kl2_9023348R": (132, 147), "kl3_9023348L": (135, 150),
    "kl4_9070207R": (106, 122), "kl4_9115049L": (106, 126),
}


def test_joint_row_sits_in_the_dark_gap_of_every_example_knee():
    assert {p.stem for p in EXAMPLES} == set(JOINT_GAP_ROWS)
    for p in EXAMPLES:
        with Image.open(p) as im:
            x = np.asarray(im.convert("L"), np.float32) / 255.0
        lo, hi = JOINT_GAP_ROWS[p.stem]
        assert lo <= find_joint_row(x) <= hi, p.name


def test_a_blank_crop_falls_back_to_the_centre_row():
    assert find_joint_row(np.full((H, W), 0.5, np.float32)) == H // 2


@pytest.mark.parametrize("laterality", ["L", "R", None])
def test_regions_partition_the_crop(laterality):
    masks = region_masks(_synthetic_knee(), laterality)
    assert len(masks) == 7 and set(masks) <= set(REGION_NAMES)
    coverage = np.sum([m.astype(int) for m in masks.values()], axis=0)
    assert (coverage == 1).all()


def test_uniform_map_gives_the_documented_area_shares():
    pixels = _synthetic_knee(112)
    shares = {r.region: r.share for r in region_shares(np.ones((H, W)), pixels, "R", joint_row=112)}
    top, bottom = 112 - round(BAND_ABOVE * H), 112 + round(BAND_BELOW * H) + 1
    assert shares["femur"] == pytest.approx(top / H)
    assert shares["tibia"] == pytest.approx((H - bottom) / H)
    band = (bottom - top) / H
    assert shares["tibial_spines"] == pytest.approx(band * (134 - 90) / W)
    assert shares["medial_margin"] == pytest.approx(band * 45 / W)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_medial_and_lateral_follow_the_knee_side():
    pixels = _synthetic_knee(120)
    right_side = _blob(120, int(0.7 * W))  # joint space on the image's right
    right_edge = _blob(120, int(0.92 * W))
    # Right knee: the image's right is medial. Left knee: the image's right is lateral.
    assert region_shares(right_side, pixels, "R")[0].region == "medial_joint_space"
    assert region_shares(right_side, pixels, "L")[0].region == "lateral_joint_space"
    assert region_shares(right_side, pixels, None)[0].region == "image_right_joint_space"
    assert region_shares(right_edge, pixels, "R")[0].region == "medial_margin"
    assert region_shares(right_edge, pixels, "L")[0].region == "lateral_margin"
    assert region_shares(_blob(118, W // 2), pixels, "L")[0].region == "tibial_spines"
    assert region_shares(_blob(40, W // 2), pixels, "L")[0].region == "femur"
    assert region_shares(_blob(200, W // 2), pixels, "L")[0].region == "tibia"
    shares = region_shares(right_side + 0.5 * _blob(120, int(0.08 * W)), pixels, "R")
    assert sum(r.share for r in shares) == pytest.approx(1.0)
    assert [r.region for r in shares[:2]] == ["medial_joint_space", "lateral_margin"]


def test_describe_in_both_languages():
    pixels = _synthetic_knee(120)
    heat = _blob(120, int(0.7 * W)) + 0.45 * _blob(120, int(0.08 * W))
    e = _explanation(heat, pixels, "R")
    first, second = e.regions[0], e.regions[1]
    en, zh = describe(e, "en"), describe(e, "zh")
    assert en.startswith(f"Most of the evidence ({round(100 * first.share)}%) sits in the medial joint space")
    assert f"{round(100 * second.share)}% in the lateral joint margin (osteophytes)" in en
    assert "内侧关节间隙" in zh and "外侧关节边缘（骨赘）" in zh and zh.endswith("。")
    assert "medial" not in zh


def test_describe_names_image_sides_when_the_knee_side_is_unknown():
    e = _explanation(_blob(120, int(0.3 * W)), _synthetic_knee(120), None)
    en = describe(e, "en")
    assert "joint space on the image's left" in en and "medial" not in en.split(".")[0]
    assert t("explain.sentence.sides_unknown", "en") in en
    assert t("explain.sentence.sides_unknown", "zh") in describe(e, "zh")


def test_describe_a_spread_map_and_an_empty_map():
    pixels = _synthetic_knee(120)
    spread = _explanation(np.ones((H, W)), pixels, "L")
    assert describe(spread, "en").startswith("The largest share of the evidence")
    empty = _explanation(np.zeros((H, W)), pixels, "L")
    assert empty.regions == ()
    assert describe(empty, "en") == t("explain.sentence.no_evidence", "en")
    assert describe(empty, "zh") == t("explain.sentence.no_evidence", "zh") != t("explain.sentence.no_evidence", "en")


def test_a_dense_spot_is_named_even_when_a_large_region_holds_more_of_a_diffuse_map():
    pixels = _synthetic_knee(120)
    # A faint glow over the whole femur plus a sharp spot on the medial joint space of a left knee.
    heat = 0.08 * (np.arange(H)[:, None] < 90) * np.ones((H, W)) + 2 * _blob(120, int(0.3 * W), sigma=8)
    e = _explanation(heat, pixels, "L")
    by_name = {r.region: r for r in e.regions}
    assert e.regions[0].region == "femur"  # the most evidence in all ...
    assert by_name["medial_joint_space"].concentration > 3 > by_name["femur"].concentration  # ... but thinly spread
    assert sum(r.area for r in e.regions) == pytest.approx(1.0)
    en, zh = describe(e, "en"), describe(e, "zh")
    dense_en = t("explain.sentence.densest", "en", region=t("explain.region.medial_joint_space", "en"),
                 times=f"{by_name['medial_joint_space'].concentration:.1f}")
    assert dense_en in en
    assert t("explain.region.medial_joint_space", "zh") in zh.split("。")[1]  # its own sentence
    assert "  " not in zh and "。 " not in zh
    # When the largest region is also the densest, no second sentence repeats it.
    spot = _explanation(_blob(120, int(0.3 * W)), pixels, "L")
    assert t("explain.sentence.densest", "en", region="X", times="1").split("X")[0] not in describe(spot, "en")


def test_every_region_has_words_in_both_languages():
    for name in REGION_NAMES:
        for prefix in ("explain.region", "consult.where"):  # the clinician's words and the patient's
            en, zh = t(f"{prefix}.{name}", "en"), t(f"{prefix}.{name}", "zh")
            assert en != f"{prefix}.{name}" and zh != f"{prefix}.{name}" and en != zh


def test_a_patient_is_pointed_to_the_densest_region_else_the_largest():
    pixels = _synthetic_knee(120)
    glow_and_spot = 0.08 * (np.arange(H)[:, None] < 90) * np.ones((H, W)) + 2 * _blob(120, int(0.3 * W), sigma=8)
    assert focus_region(region_shares(glow_and_spot, pixels, "L")).region == "medial_joint_space"
    even = region_shares(np.ones((H, W)), pixels, "L")  # nothing stands out: the largest region
    assert densest_region(even) is None and focus_region(even).region == "femur"
    assert focus_region(()) is None


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        region_shares(np.ones((7, 7)), _synthetic_knee(), "R")
