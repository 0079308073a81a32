"""Site shifts (kneeai.imaging.shifts) and the robustness benchmark built on them."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from kneeai.imaging.shifts import SITE_SHIFTS

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "knees").glob("*.webp"))


def _knee() -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES[0]).convert("L"), np.float32) / 255


def test_every_shift_keeps_shape_and_range_and_changes_the_crop():
    x = _knee()
    for name, fn in SITE_SHIFTS.items():
        y = fn(x)
        assert y.shape == x.shape, name
        assert float(y.min()) >= 0 and float(y.max()) <= 1, name
        assert not np.allclose(y, x, atol=1e-3), name


def test_robustness_benchmark_on_a_small_split(tmp_path):
    from kneeai.bench import robustness

    for g in range(5):
        (tmp_path / "val" / str(g)).mkdir(parents=True)
    for p in EXAMPLES[:5]:
        shutil.copy(p, tmp_path / "val" / p.name[2] / p.name)  # kl<grade>_<id><side>.webp
    result = robustness.run(argparse.Namespace(data=tmp_path, split="val", every=1))
    assert result["n"] == 5
    assert set(result["shifts"]) == {"none", *SITE_SHIFTS}
    assert result["shifts"]["none"]["same_grade_as_original"] == 1.0
    # A linear contrast change is undone by the per-image percentile normalisation.
    assert result["shifts"]["low_contrast"]["same_grade_as_original"] == 1.0
