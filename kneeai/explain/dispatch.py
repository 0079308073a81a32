"""One entry point for every explanation method."""
from __future__ import annotations

from kneeai.explain.gradcam import gradcam
from kneeai.explain.occlusion import occlusion
from kneeai.schemas import Explanation, GradeResult, KneeCrop

__all__ = ["METHODS", "explain"]

_FUNCTIONS = {"gradcam": gradcam, "occlusion": occlusion}
METHODS = tuple(_FUNCTIONS)


def explain(crop: KneeCrop, grade_result: GradeResult | None = None, method: str = "gradcam", grader=None) -> Explanation:
    """Explain the grade of ``crop`` with ``method`` ("gradcam" or "occlusion").

    grade_result : when given, its grade is the one explained (so the map matches what the user
        sees); otherwise the grader's own prediction.
    grader : default :func:`~kneeai.grading.weights.load_grader`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown explanation method {method!r}; choose from {sorted(METHODS)}")
    if grader is None:
        from kneeai.grading.weights import load_grader

        grader = load_grader()
    target = grade_result.kl_grade if grade_result is not None else None
    return _FUNCTIONS[method](crop, grader, target_grade=target)
