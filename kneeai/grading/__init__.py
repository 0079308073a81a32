"""KL grading: model, weights, prediction, gate. Re-exports only."""
from kneeai.grading.predict import grade, grade_batch

__all__ = ["grade", "grade_batch"]
