"""Exports of a :class:`~kneeai.schemas.PatientSummary`: PDF, JSON, FHIR R4 and CSV. Re-exports only."""
from kneeai.report.csv_export import to_csv
from kneeai.report.fhir import to_bundle
from kneeai.report.json_export import SCHEMA_VERSION, to_dict
from kneeai.report.pdf import render_pdf
from kneeai.report.summary import build_summary, final_grade, summary_from_visit

__all__ = ["to_csv", "to_bundle", "SCHEMA_VERSION", "to_dict", "render_pdf", "build_summary", "final_grade",
           "summary_from_visit"]
