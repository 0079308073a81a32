"""Plain-JSON forms of the result dataclasses, and back, for storage and the audit trail.

Exports have their own documented schema (:mod:`kneeai.report.json_export`); this one is the
registry's internal form and may change with a schema migration.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from kneeai.schemas import GateResult, GradeResult, ModelInfo, ModelRisk, RiskInput, RiskResult

__all__ = ["grade_to_dict", "grade_from_dict", "risk_input_to_dict", "risk_input_from_dict", "model_risk_to_dict",
           "model_risk_from_dict", "risk_to_dict", "risk_from_dict", "encode_png", "decode_png"]


def grade_to_dict(g: GradeResult) -> dict[str, Any]:
    return {
        "kl_grade": g.kl_grade,
        "probabilities": list(g.probabilities),
        "expected_grade": g.expected_grade,
        "entropy": g.entropy,
        "flip_disagreement": g.flip_disagreement,
        "model": dataclasses.asdict(g.model),
        "gate": dataclasses.asdict(g.gate) if g.gate is not None else None,
        "outside_validated_use": g.outside_validated_use,
    }


def grade_from_dict(d: dict[str, Any]) -> GradeResult:
    return GradeResult(
        kl_grade=int(d["kl_grade"]),
        probabilities=tuple(float(p) for p in d["probabilities"]),
        expected_grade=float(d["expected_grade"]),
        entropy=float(d["entropy"]),
        flip_disagreement=float(d["flip_disagreement"]),
        model=ModelInfo(**d["model"]),
        gate=GateResult(**d["gate"]) if d.get("gate") else None,
        outside_validated_use=bool(d.get("outside_validated_use", False)),
    )


def risk_input_to_dict(r: RiskInput) -> dict[str, Any]:
    d = dataclasses.asdict(r)
    d["kl_probabilities"] = list(r.kl_probabilities) if r.kl_probabilities is not None else None
    return d


def risk_input_from_dict(d: dict[str, Any]) -> RiskInput:
    probs = d.get("kl_probabilities")
    return RiskInput(age=float(d["age"]), sex=d["sex"], bmi=float(d["bmi"]), womac_pain=float(d["womac_pain"]),
                     kl_grade=int(d["kl_grade"]), kl_probabilities=tuple(float(p) for p in probs) if probs is not None else None)


def model_risk_to_dict(m: ModelRisk) -> dict[str, Any]:
    return {
        "model_name": m.model_name,
        "model_id": m.model_id,
        "sha256": m.sha256,
        "times": list(m.times),
        "survival": list(m.survival),
        "survival_low": list(m.survival_low),
        "survival_high": list(m.survival_high),
        # JSON keys are strings; keep the horizon as text and parse it back.
        "risk_at": {repr(float(h)): list(v) for h, v in m.risk_at.items()},
        "contributions": dict(m.contributions),
        "simulated": m.simulated,
    }


def model_risk_from_dict(d: dict[str, Any]) -> ModelRisk:
    return ModelRisk(
        model_name=d["model_name"],
        model_id=d["model_id"],
        sha256=d["sha256"],
        times=tuple(float(x) for x in d["times"]),
        survival=tuple(float(x) for x in d["survival"]),
        survival_low=tuple(float(x) for x in d["survival_low"]),
        survival_high=tuple(float(x) for x in d["survival_high"]),
        risk_at={float(h): tuple(float(x) for x in v) for h, v in d["risk_at"].items()},  # type: ignore[misc]
        contributions={k: float(v) for k, v in d["contributions"].items()},
        simulated=bool(d["simulated"]),
    )


def risk_to_dict(r: RiskResult) -> dict[str, Any]:
    return {"inputs": risk_input_to_dict(r.inputs), "models": [model_risk_to_dict(m) for m in r.models]}


def risk_from_dict(d: dict[str, Any]) -> RiskResult:
    return RiskResult(inputs=risk_input_from_dict(d["inputs"]), models=tuple(model_risk_from_dict(m) for m in d["models"]))


def encode_png(pixels: Any) -> bytes:
    """A [0, 1] float image (a crop or a heatmap), shape = (h, w), as an 8-bit grey PNG."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(np.asarray(pixels, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def decode_png(data: bytes) -> Any:
    """The inverse of :func:`encode_png`: float32 in [0, 1], shape = (h, w)."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
