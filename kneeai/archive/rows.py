"""The archive table: one row per knee (or one per file that yields none), in input order.

Rows carry no patient identity and no hash of the file: ``item`` is the file's number in the
run's input list and ``knee`` its index from the viewer's left, so only the run's own manifest
(which stays beside the outputs, on the user's disk) links a row back to its file. The file's
path is a column only when the user asks for it.
"""
from __future__ import annotations

from typing import Any

from kneeai.errors import KneeAIError

__all__ = ["COLUMNS", "FILE_COLUMN", "ROUND", "file_rows", "error_reason"]

FILE_COLUMN = "file"
# Probabilities and scores are rounded so that the same grade prints the same digits wherever
# it was computed (ONNX Runtime on 1 or 2 threads, batches of any size agree far below this).
ROUND = 4
COLUMNS: tuple[str, ...] = (
    "item", "knee", "laterality", "laterality_source", "inverted", "box_x0", "box_y0", "box_x1", "box_y1",
    "kl_grade", "p_kl0", "p_kl1", "p_kl2", "p_kl3", "p_kl4", "expected_grade", "entropy", "flip_disagreement",
    "gate_score", "outside_validated_use", "refusal_reason", "error", "grader_model_id", "grader_sha256",
)


def error_reason(exc: KneeAIError) -> str:
    """The stable key of why a file or knee was refused (a ``gate.reason.*`` key for the gate)."""
    return str(exc.params.get("detail_key") or exc.key)


def _empty(item: int, knee: int | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(item=item, knee=knee)
    return row


def file_rows(graded, item: int, lang: str, path: str | None = None) -> list[dict[str, Any]]:
    """The rows of one :class:`~kneeai.pipeline.GradedFile` (``path`` adds the file column)."""
    from kneeai.pipeline import box_xyxy

    out: list[dict[str, Any]] = []
    if graded.error is not None or not graded.knees:
        row = _empty(item, None)
        if graded.error is not None:
            row.update(refusal_reason=error_reason(graded.error), error=graded.error.message(lang))
        out.append(row)
    for k in graded.knees:
        row = _empty(item, k.knee.index)
        x0, y0, x1, y1 = box_xyxy(k.knee.box)
        # inverted: the image was a negative (bone dark), turned back before grading (docs/polarity.md).
        row.update(laterality=k.knee.laterality, laterality_source=k.knee.laterality_source, inverted=k.knee.crop.inverted,
                   box_x0=x0, box_y0=y0, box_x1=x1, box_y1=y1)
        if k.error is not None:
            row.update(refusal_reason=error_reason(k.error), error=k.error.message(lang))
        else:
            r = k.result
            row.update(kl_grade=r.kl_grade, expected_grade=round(r.expected_grade, ROUND), entropy=round(r.entropy, ROUND),
                       flip_disagreement=round(r.flip_disagreement, ROUND),
                       gate_score=round(r.gate.score, ROUND) if r.gate is not None else None,
                       outside_validated_use=bool(r.outside_validated_use),
                       grader_model_id=r.model.model_id, grader_sha256=r.model.sha256)
            row.update({f"p_kl{g}": round(p, ROUND) for g, p in enumerate(r.probabilities)})
        out.append(row)
    if path is not None:
        for row in out:
            row[FILE_COLUMN] = path
    return out
