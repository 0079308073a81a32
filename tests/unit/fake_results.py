"""Small, deterministic stand-ins for the other stages' results (grading, risk, explanation),
so store and report tests do not need trained models."""
from __future__ import annotations

import math

import numpy as np

from kneeai.schemas import RISK_HORIZONS_YEARS, Explanation, GradeResult, ModelInfo, ModelRisk, RegionShare, RiskInput, RiskResult


def fake_grade(k: int = 2, placeholder: bool = False) -> GradeResult:
    p = np.full(5, 0.05)
    p[k] = 0.8
    p = p / p.sum()
    return GradeResult(
        kl_grade=k,
        probabilities=tuple(float(x) for x in p),
        expected_grade=float((p * np.arange(5)).sum()),
        entropy=float(-(p * np.log(p)).sum()),
        flip_disagreement=0.03,
        model=ModelInfo("kl-effnet-test", "ab" * 32, placeholder),
    )


def _model_risk(name: str, hazard: float, simulated: bool) -> ModelRisk:
    times = tuple(float(t) for t in np.linspace(0, 9, 37))
    surv = tuple(math.exp(-hazard * t) for t in times)
    low = tuple(max(0.0, s - 0.05) for s in surv)
    high = tuple(min(1.0, s + 0.05) for s in surv)
    risk_at = {h: (1 - math.exp(-hazard * h), max(0.0, 1 - math.exp(-hazard * h) - 0.05), min(1.0, 1 - math.exp(-hazard * h) + 0.05))
               for h in RISK_HORIZONS_YEARS}
    return ModelRisk(name, f"{name}-test", "cd" * 32, times, surv, low, high, risk_at, {"age": 0.1, "kl": 0.5}, simulated)


def fake_risk(kl: int = 2, simulated: bool = True) -> RiskResult:
    inputs = RiskInput(age=63, sex="F", bmi=29.5, womac_pain=7, kl_grade=kl)
    return RiskResult(inputs, (_model_risk("cox", 0.02 + 0.01 * kl, simulated), _model_risk("deepsurv", 0.025 + 0.01 * kl, simulated)))


def fake_crop(seed: int = 0, size: int = 224) -> np.ndarray:
    """A knee-ish crop: two bright 'bones' with a dark joint space between them."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 0.2, np.float32)
    img[: size // 2 - 6] = 0.8
    img[size // 2 + 6 :] = 0.75
    return np.clip(img + rng.normal(0, 0.02, img.shape).astype(np.float32), 0, 1)


def fake_explanation(k: int = 2, size: int = 224) -> Explanation:
    yy, xx = np.mgrid[0:size, 0:size]
    heat = np.exp(-(((yy - size / 2) ** 2) + ((xx - size / 3) ** 2)) / (2 * (size / 8) ** 2)).astype(np.float32)
    return Explanation(heat, "gradcam", k, (RegionShare("medial_joint_space", 0.6), RegionShare("lateral_joint_space", 0.4)))
