"""Plain words for a grade: names, borderline phrasing and uncertainty levels, in both languages."""
from __future__ import annotations

from kneeai.config import SETTINGS
from kneeai.i18n import t
from kneeai.schemas import GradeResult

__all__ = ["grade_name", "borderline_pair", "grade_sentence", "uncertainty_level"]

# Entropy (nats) above which we call the model unsure; ln(5) = 1.61 is a uniform guess.
UNCERTAIN_ENTROPY = 1.0
SOMEWHAT_UNCERTAIN_ENTROPY = 0.6


def grade_name(grade: int, lang: str) -> str:
    return t(f"kl.{grade}.name", lang)


def borderline_pair(result: GradeResult) -> tuple[int, int] | None:
    """Two adjacent grades whose probabilities are within ``borderline_margin`` of each other."""
    p = result.probabilities
    order = sorted(range(len(p)), key=lambda k: -p[k])
    top, second = order[0], order[1]
    if abs(top - second) == 1 and p[top] - p[second] <= SETTINGS.borderline_margin:
        return (min(top, second), max(top, second))
    return None


def uncertainty_level(result: GradeResult) -> str:
    """"low", "medium" or "high": an i18n suffix for ``uncertainty.<level>``."""
    if result.entropy >= UNCERTAIN_ENTROPY or result.flip_disagreement >= 0.25:
        return "high"
    if result.entropy >= SOMEWHAT_UNCERTAIN_ENTROPY or result.flip_disagreement >= 0.1:
        return "medium"
    return "low"


def grade_sentence(result: GradeResult, lang: str) -> str:
    """E.g. "KL 2 (minimal osteoarthritis), 71% probability" or "Between KL 1 and KL 2"."""
    pair = borderline_pair(result)
    if pair is not None:
        a, b = pair
        return t("grade.between", lang, a=a, b=b, name_a=grade_name(a, lang), name_b=grade_name(b, lang))
    g = result.kl_grade
    return t("grade.single", lang, grade=g, name=grade_name(g, lang), pct=round(100 * result.probabilities[g]))
