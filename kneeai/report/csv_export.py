"""Cohort and batch tables as CSV: one row per knee-visit, pseudonyms only by default.

Columns (in this order; ``<model>`` is each TKR model's name, ``<h>`` each horizon in years):
``item, pseudonym, visit_date, laterality, model_grade, p_kl0..p_kl4, expected_grade, entropy,
flip_disagreement, outside_validated_use, inverted, override_grade, override_reason, final_grade,
grade_source, age, sex, bmi, womac_pain, tkr_<model>_<h>y..., risk_simulated, grader_model_id,
grader_sha256, placeholder_model`` and, only when the user opted in, ``id_<kind>`` columns.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from kneeai.report.summary import final_grade, grade_source
from kneeai.schemas import RISK_HORIZONS_YEARS, PatientSummary

__all__ = ["rows", "to_csv", "BASE_COLUMNS"]

BASE_COLUMNS: tuple[str, ...] = (
    "item", "pseudonym", "visit_date", "laterality", "model_grade", "p_kl0", "p_kl1", "p_kl2", "p_kl3", "p_kl4", "expected_grade",
    "entropy", "flip_disagreement", "outside_validated_use", "inverted", "override_grade", "override_reason", "final_grade", "grade_source",
    "age", "sex", "bmi", "womac_pain",
)
_TAIL: tuple[str, ...] = ("risk_simulated", "grader_model_id", "grader_sha256", "placeholder_model")


def _horizon(h: float) -> str:
    return f"{h:g}".replace(".", "_")


def rows(summaries: Sequence[PatientSummary], extra: Sequence[dict[str, Any]] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and one dict per summary. ``extra`` adds per-row columns (e.g. a batch's error)."""
    model_names: list[str] = []
    id_kinds: list[str] = []
    for s in summaries:
        for m in s.risk.models if s.risk else ():
            if m.model_name not in model_names:
                model_names.append(m.model_name)
        id_kinds += [k for k in sorted(s.identifiers) if k not in id_kinds]
    risk_cols = [f"tkr_{name}_{_horizon(h)}y" for name in model_names for h in RISK_HORIZONS_YEARS]
    extra_cols: list[str] = []
    for e in extra or ():
        extra_cols += [k for k in e if k not in extra_cols]
    columns = [*BASE_COLUMNS, *risk_cols, *_TAIL, *extra_cols, *(f"id_{k}" for k in id_kinds)]
    out: list[dict[str, Any]] = []
    for i, s in enumerate(summaries):
        g = s.grade
        row: dict[str, Any] = {"item": i + 1, "pseudonym": s.pseudonym, "visit_date": s.visit_date, "laterality": s.laterality or "",
                               "inverted": int(s.inverted)}
        if g is not None:
            row.update(model_grade=g.kl_grade, expected_grade=round(g.expected_grade, 4), entropy=round(g.entropy, 4),
                       flip_disagreement=round(g.flip_disagreement, 4), outside_validated_use=int(g.outside_validated_use),
                       final_grade=final_grade(s), grade_source=grade_source(s), grader_model_id=g.model.model_id,
                       grader_sha256=g.model.sha256, placeholder_model=int(g.model.placeholder))
            row.update({f"p_kl{k}": round(p, 4) for k, p in enumerate(g.probabilities)})
        if s.override_grade is not None:
            row.update(override_grade=s.override_grade, override_reason=s.override_reason or "")
        if s.risk is not None:
            r = s.risk.inputs
            row.update(age=r.age, sex=r.sex, bmi=r.bmi, womac_pain=r.womac_pain, risk_simulated=int(s.risk.simulated))
            for m in s.risk.models:
                for h in RISK_HORIZONS_YEARS:
                    if h in m.risk_at:
                        row[f"tkr_{m.model_name}_{_horizon(h)}y"] = round(m.risk_at[h][0], 4)
        row.update({f"id_{k}": v for k, v in s.identifiers.items()})
        if extra:
            row.update(extra[i])
        out.append(row)
    return columns, out


def to_csv(summaries: Sequence[PatientSummary], extra: Sequence[dict[str, Any]] | None = None) -> str:
    columns, data = rows(summaries, extra)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    writer.writerows(_safe(r) for r in data)
    return buf.getvalue()


# A cell starting with one of these runs as a formula in spreadsheet programs (CSV injection,
# OWASP's list): = + - @, and a tab or carriage return, which Excel and LibreOffice skip before
# reading the formula that follows.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def _safe(row: dict[str, Any]) -> dict[str, Any]:
    # Free text (override reasons, identifiers) is defused with a leading apostrophe. A carriage
    # return inside a value becomes a newline: the writer quotes a field with "\n" (its line
    # terminator) but would leave a bare "\r" unquoted, which readers take as the end of the row.
    return {k: _cell(v) if isinstance(v, str) else v for k, v in row.items()}


def _cell(v: str) -> str:
    v2 = v.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + v2 if v[:1] in FORMULA_STARTS else v2
