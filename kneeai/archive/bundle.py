"""Grade and risk-score a set of images: a table (CSV) and a ZIP of PDF summaries, per knee.

Shared by ``python -m kneeai batch --zip`` and the Batch page. Each image gets its own random
pseudonym (both knees of a film share it) and each knee its own row and PDF; file names stay out
of every output unless ``include_file_names`` is set (a file named after a patient would
otherwise leak who it is), and no hash of the file is written (it would link a row back to the
file). Rows follow the input order, then the knees from the viewer's left.
"""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.report.csv_export import to_csv
from kneeai.report.pdf import render_pdf
from kneeai.report.summary import CLINICAL_FIELDS, build_summary
from kneeai.schemas import PatientSummary

__all__ = ["BatchItem", "BatchResult", "read_clinical_csv", "run_batch"]

_KEY_COLUMNS = ("file", "filename", "file_name", "image", "name")


@dataclass(frozen=True)
class BatchItem:
    name: str  # the file name, used only to look up clinical values (and shown on opt-in)
    data: bytes | Path  # the file's bytes, or its path (read only when its turn comes)

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)


def check_batch_size(items: Sequence[BatchItem]) -> None:
    """Refuse a bundle past the configured caps, before anything is read or graded."""
    from kneeai.config import SETTINGS

    if len(items) > SETTINGS.max_batch_files:
        raise KneeAIError("error.batch_too_many", n=len(items), max=SETTINGS.max_batch_files)
    total = sum(item.size for item in items)
    if total > SETTINGS.max_batch_mb * 1024 * 1024:
        raise KneeAIError("error.batch_too_large", mb=f"{total / 2**20:.0f}", max=SETTINGS.max_batch_mb)


@dataclass(frozen=True)
class BatchResult:
    summaries: tuple[PatientSummary, ...]  # one per knee (one per file that gave none)
    errors: tuple[str | None, ...]  # translated message per row, None when it worked
    csv_text: str
    zip_bytes: bytes

    @property
    def n_failed(self) -> int:
        return sum(e is not None for e in self.errors)


def read_clinical_csv(text: str) -> dict[str, dict[str, Any]]:
    """Clinical variables keyed by file name (the column ``file``, ``filename`` or ``image``);
    other columns: age, sex, bmi, womac_pain (case-insensitive; extra columns are ignored)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = {f.strip().lower(): f for f in reader.fieldnames or ()}
    key = next((fields[k] for k in _KEY_COLUMNS if k in fields), None)
    if key is None:
        raise KneeAIError("error.batch_csv_no_file_column", columns=", ".join(reader.fieldnames or ()))
    out: dict[str, dict[str, Any]] = {}
    for row in reader:
        name = Path((row.get(key) or "").strip()).name
        if name:
            out[name] = {f: (row.get(fields[f]) or "").strip() for f in CLINICAL_FIELDS if f in fields}
    return out


def run_batch(
    items: Sequence[BatchItem],
    clinical: dict[str, dict[str, Any]] | None = None,
    *,
    lang: str = "en",
    include_file_names: bool = False,
    heatmap: bool = True,
    visit_date: date | None = None,
    progress: Callable[[int, int], None] | None = None,
    confirm_burned_in: bool = False,
) -> BatchResult:
    """Run every item; a failing file or knee becomes a row with its error and the batch goes on.

    A film whose header says identifying text is burned into its pixels gets its row but no PDF
    (which would show the knee) unless ``confirm_burned_in``; the row says why.

    Raises :class:`~kneeai.errors.KneeAIError` when the set is past the caps
    (:func:`check_batch_size`).
    """
    check_batch_size(items)
    from kneeai.errors import BurnedInAnnotation
    from kneeai.io import has_burned_in_annotation, load_radiograph
    from kneeai.pipeline import Audit, summarize_film
    from kneeai.store.registry import new_pseudonym

    summaries: list[PatientSummary] = []
    errors: list[str | None] = []
    extra: list[dict[str, Any]] = []
    buf = io.BytesIO()
    # Each PDF goes into the archive as soon as it is made: only the compressed ZIP is held.
    zf = zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED)

    def add_pdf(name: str, data: bytes) -> None:
        # A fixed timestamp: the archive says nothing about when or where it was made.
        info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)

    def add(s: PatientSummary, row: dict[str, Any], error: str | None) -> None:
        summaries.append(s)
        extra.append(row)
        errors.append(error)

    for i, item in enumerate(items):
        pseudonym = new_pseudonym()
        base: dict[str, Any] = {"knee": "", "error": ""}
        if include_file_names:
            base["file"] = item.name
        try:
            rad = load_radiograph(item.data)
            values = (clinical or {}).get(Path(item.name).name)
            knees = summarize_film(rad, values, pseudonym=pseudonym, visit_date=visit_date, lang=lang,
                                   explain_method="gradcam" if heatmap else None, audit=Audit(subject="batch"))
        except KneeAIError as exc:
            add(build_summary(pseudonym=pseudonym, visit_date=visit_date, lang=lang), {**base, "error": exc.message(lang)},
                exc.message(lang))
        else:
            for k in knees:
                row = {**base, "knee": k.knee.index}
                if k.error is not None:
                    message = k.error.message(lang)
                    add(build_summary(pseudonym=pseudonym, visit_date=visit_date, laterality=k.knee.laterality, lang=lang),
                        {**row, "error": message}, message)
                    continue
                suffix = f"_knee{k.knee.index}" if len(knees) > 1 else ""
                try:
                    add_pdf(f"{i + 1:03d}_{pseudonym}{suffix}.pdf",
                            render_pdf(k.summary, burned_in_annotation=has_burned_in_annotation(rad),
                                       confirm_burned_in=confirm_burned_in))
                except BurnedInAnnotation:
                    add(k.summary, {**row, "error": t("batch.burned_in_no_pdf", lang)}, None)
                    continue
                add(k.summary, row, None)
        if progress is not None:
            progress(i + 1, len(items))
    zf.close()
    return BatchResult(tuple(summaries), tuple(errors), to_csv(summaries, extra), buf.getvalue())
