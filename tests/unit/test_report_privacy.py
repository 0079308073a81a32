"""A DICOM with PatientName and PatientID set leaves no trace of either in any export: PDF (text,
metadata and every stream), JSON, FHIR, CSV, the ZIP of PDFs, the output names and the registry.
With the user's opt-in they do appear, which shows the checks can see them."""
from __future__ import annotations

import dataclasses
import io
import re
import zipfile
import zlib
from pathlib import Path

import pytest

from kneeai.__main__ import main
from kneeai.report import summary as summary_module
from kneeai.store.backup import sqlite_path
from tests.dicom_corpus import base_dataset, reference_knee, to_bytes
from tests.unit.fake_results import fake_risk
from tests.unit.test_report_exports import needs_poppler, pdf_info, pdf_text

NAME, PATIENT_ID = "Zhang^Wei", "MRN-8675309"
NEEDLES = ("Zhang", "8675309")
FILE_NAME = "Zhang_Wei_MRN-8675309.dcm"


@pytest.fixture()
def dicom(tmp_path) -> Path:
    ds = base_dataset(reference_knee())
    ds.PatientName = NAME
    ds.PatientID = PATIENT_ID
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / FILE_NAME
    path.write_bytes(to_bytes(ds))
    return path


@pytest.fixture(autouse=True)
def _risk(monkeypatch):
    """The TKR models are another stage's; a fixed stand-in keeps the risk sections in every export."""
    monkeypatch.setattr(summary_module, "_predict_risk", lambda inputs: dataclasses.replace(fake_risk(inputs.kl_grade), inputs=inputs))


def _pdf_streams(data: bytes) -> bytes:
    """Every stream of the PDF, inflated, plus the bytes outside them."""
    out = [data]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return b"\n".join(out)


def _leaks(blob: bytes) -> list[str]:
    found = []
    for needle in NEEDLES:
        for enc in ("utf-8", "utf-16-be", "utf-16-le"):
            if needle.encode(enc) in blob:
                found.append(f"{needle} ({enc})")
    return found


def _report(dicom: Path, out: Path, *extra: str) -> dict[str, bytes]:
    out.mkdir(exist_ok=True)
    rc = main(["report", str(dicom), "--age", "61", "--sex", "F", "--bmi", "27", "--womac-pain", "6", "--pdf", str(out / "summary.pdf"),
               "--json", str(out / "summary.json"), "--fhir", str(out / "bundle.json"), "--no-heatmap", *extra])
    assert rc == 0
    return {p.name: p.read_bytes() for p in out.iterdir()}


@needs_poppler
def test_no_identifier_reaches_any_export(dicom, tmp_path):
    files = _report(dicom, tmp_path / "out")
    pdf = files["summary.pdf"]
    for name, data in files.items():
        assert _leaks(name.encode()) == [] and _leaks(data) == [], name
    assert _leaks(_pdf_streams(pdf)) == []
    assert _leaks(pdf_text(pdf).encode()) == [] and _leaks(pdf_info(pdf).encode()) == []
    assert b"KN-" in files["summary.json"] and b"urn:kneeai:pseudonym" in files["bundle.json"]
    assert b"simulated" in files["summary.json"]  # the risk sections were there to leak from
    # Nor does the audit trail keep them.
    assert _leaks(sqlite_path().read_bytes()) == []


def test_batch_outputs_carry_no_identifier_or_file_name(dicom, tmp_path):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(f"file,age,sex,bmi,womac_pain\n{FILE_NAME},61,F,27,6\n", encoding="utf-8")
    out_csv, out_zip = tmp_path / "table.csv", tmp_path / "pdfs.zip"
    assert main(["batch", str(dicom.parent), "--clinical", str(clinical), "--csv", str(out_csv), "--zip", str(out_zip), "--no-heatmap"]) == 0
    table = out_csv.read_bytes()
    assert _leaks(table) == [] and b"Zhang_Wei" not in table
    assert b"tkr_cox_5y" in table and b",61.0,F,27.0,6.0," in table  # the clinical row was matched by file name
    with zipfile.ZipFile(io.BytesIO(out_zip.read_bytes())) as zf:
        names = zf.namelist()
        assert len(names) == 1 and re.fullmatch(r"001_KN-[0-9A-F]{6}\.pdf", names[0])
        assert _leaks(_pdf_streams(zf.read(names[0]))) == []


@needs_poppler
def test_identifiers_appear_only_on_opt_in(dicom, tmp_path):
    files = _report(dicom, tmp_path / "opt", "--include-identifiers")
    assert _leaks(files["summary.json"]) and _leaks(files["bundle.json"])
    assert "8675309" in pdf_text(files["summary.pdf"])
    assert _leaks(pdf_info(files["summary.pdf"]).encode()) == []  # metadata stays generic even then
