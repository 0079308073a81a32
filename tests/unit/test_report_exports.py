"""PDF, JSON, FHIR and CSV exports: content, schema, validation, and both languages."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import pytest

from kneeai.errors import FontMissing
from kneeai.report import csv_export, fhir, fonts, json_export
from kneeai.report.pdf import render_pdf
from kneeai.report.summary import build_summary, final_grade, risk_input, risk_with_override
from tests.unit.fake_results import fake_crop, fake_explanation, fake_grade, fake_risk

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")


def _summary(lang: str = "en", override: tuple[int, str] | None = (3, "definite narrowing"), include_ids: bool = False, simulated: bool = True):
    return build_summary(pseudonym="KN-1A2B3C", visit_date="2025-03-14", laterality="R", grade=fake_grade(2), explanation=fake_explanation(2),
                         risk=fake_risk(3 if override else 2, simulated=simulated), crop_pixels=fake_crop(), override=override,
                         identifiers={"PatientName": "Doe^Jane", "PatientID": "PID-77"}, include_identifiers=include_ids, lang=lang)


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout.decode("utf-8")


def pdf_info(data: bytes) -> str:
    return subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True).stdout.decode("utf-8", "replace")


def test_summary_drops_identifiers_unless_asked():
    assert _summary().identifiers == {}
    assert _summary(include_ids=True).identifiers["PatientID"] == "PID-77"
    assert final_grade(_summary()) == 3 and final_grade(_summary(override=None)) == 2


def test_override_becomes_the_risk_input():
    clinical = {"age": 60, "sex": "f", "bmi": 28, "womac_pain": 5}
    assert risk_input(clinical, fake_grade(2)).kl_probabilities == fake_grade(2).probabilities
    with_override = risk_input(clinical, fake_grade(2), (4, "reason"))
    assert with_override.kl_grade == 4 and with_override.kl_probabilities is None and with_override.sex == "F"
    unchanged = fake_risk(2)
    assert risk_with_override(unchanged, None) is unchanged


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_carries_what_the_issue_lists(lang):
    data = render_pdf(_summary(lang))
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    flat = "".join(text.split())
    assert "KN-1A2B3C" in text and "2025-03-14" in text
    if lang == "en":
        assert "For research and education only" in text
        assert "simulated cohort" in text.lower() and "Clinician override" in text and "KL 3" in text
        assert "kl-effnet-test" in text and "cox-test" in text and "WOMAC" in text
    else:
        assert "仅供科研与教学使用" in flat and "模拟队列" in flat and "医生修订" in flat and "全膝关节置换术" in flat
        assert "Kellgren-Lawrence分级" in flat
        assert "模型结果：KL" in text  # no stray space after a Chinese colon
    assert "Doe" not in text and "PID-77" not in text
    # The heatmap in words, in the report's language.
    from kneeai.explain.regions import describe

    assert "".join(describe(fake_explanation(2), lang).split()) in flat


@needs_poppler
def test_pdf_without_simulated_models_or_risk_says_so():
    text = pdf_text(render_pdf(_summary(simulated=False, override=None)))
    assert "simulated cohort" not in text.lower() and "Clinician override" not in text
    bare = build_summary(pseudonym="KN-000001", grade=fake_grade(0))
    assert "clinical inputs" in pdf_text(render_pdf(bare)).lower()


@needs_poppler
def test_pdf_shows_identifiers_only_when_opted_in():
    assert "PID-77" in pdf_text(render_pdf(_summary(include_ids=True)))


@needs_poppler
def test_pdf_metadata_is_generic():
    info = pdf_info(render_pdf(_summary(include_ids=True)))
    assert "KneeAI" in info and "KN-1A2B3C" not in info and "Doe" not in info and "PID-77" not in info


def test_chinese_pdf_without_a_cjk_font_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    with pytest.raises(FontMissing) as err:
        render_pdf(_summary("zh"))
    assert "fonts-noto-cjk" in err.value.message("en")


def test_json_follows_its_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(json_export.SCHEMA_PATH.read_text(encoding="utf-8"))
    for s in (_summary(), _summary(override=None), _summary(include_ids=True), build_summary(pseudonym="KN-ABCDEF")):
        doc = json.loads(json.dumps(json_export.to_dict(s)))
        jsonschema.validate(doc, schema)
    doc = json_export.to_dict(_summary())
    assert doc["schema_version"] == json_export.SCHEMA_VERSION
    assert doc["grade"]["final_grade"] == 3 and doc["grade"]["source"] == "override" and doc["grade"]["model_grade"] == 2
    assert doc["override"] == {"kl_grade": 3, "reason": "definite narrowing", "model_grade": 2}
    assert doc["risk"]["simulated"] is True and [h["years"] for h in doc["risk"]["models"][0]["horizons"]] == [1.0, 2.0, 5.0, 9.0]
    assert "identifiers" not in doc["patient"]
    assert json_export.to_dict(_summary(include_ids=True))["patient"]["identifiers"]["PatientName"] == "Doe^Jane"


def test_json_schema_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "export_schema.md").read_text(encoding="utf-8")
    assert "schema_version" in doc and json_export.SCHEMA_VERSION in doc
    for key in json_export.to_dict(_summary(include_ids=True)):
        assert f"`{key}`" in doc, key
    assert fhir.KL_SYSTEM in doc


def test_fhir_bundle_validates_and_codes_what_it_can():
    bundle = fhir.to_bundle(_summary())
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "DiagnosticReport", "Observation", "Observation", "RiskAssessment", "RiskAssessment"]
    report = bundle["entry"][1]["resource"]
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}
    model_obs, override_obs = bundle["entry"][2]["resource"], bundle["entry"][3]["resource"]
    assert model_obs["valueCodeableConcept"]["coding"][0]["code"] == "2" and override_obs["valueCodeableConcept"]["coding"][0]["code"] == "3"
    assert override_obs["derivedFrom"][0]["reference"] == bundle["entry"][2]["fullUrl"]
    assert "override" in override_obs["method"]["text"].lower() and "override" in report["conclusion"].lower()
    assert {c["code"] for c in model_obs["bodySite"]["coding"]} == {"49076000", "24028007"}
    risk = bundle["entry"][4]["resource"]
    assert [p["whenRange"]["high"]["value"] for p in risk["prediction"]] == [1.0, 2.0, 5.0, 9.0]
    assert risk["prediction"][0]["outcome"]["coding"][0]["code"] == "609588000"
    assert risk["basis"][0]["reference"] == bundle["entry"][3]["fullUrl"]  # the grade in force
    assert "simulated" in risk["note"][0]["text"].lower()
    patient = bundle["entry"][0]["resource"]
    assert patient["identifier"] == [{"system": fhir.PSEUDONYM_SYSTEM, "value": "KN-1A2B3C"}] and "name" not in patient


def test_fhir_opt_in_identifiers_and_validation_bites():
    patient = fhir.to_bundle(_summary(include_ids=True))["entry"][0]["resource"]
    assert patient["name"][0]["text"] == "Doe Jane" and {"system": "urn:kneeai:identifier:PatientID", "value": "PID-77"} in patient["identifier"]
    from pydantic import ValidationError

    bad = fhir.to_bundle(_summary())
    bad["entry"][4]["resource"]["prediction"][0]["probabilityDecimal"] = "high"
    with pytest.raises(ValidationError):
        fhir.validate(bad)
    bad = fhir.to_bundle(_summary())
    bad["entry"][2]["resource"]["valueKL"] = 2  # not an R4 element
    with pytest.raises(ValidationError):
        fhir.validate(bad)


def test_csv_has_one_row_per_knee_and_defuses_formulas():
    rows = list(csv.DictReader(io.StringIO(csv_export.to_csv([_summary(), _summary(override=(1, "=HYPERLINK(\"x\")"))]))))
    assert len(rows) == 2 and rows[0]["final_grade"] == "3" and rows[0]["grade_source"] == "override"
    assert rows[0]["tkr_cox_5y"] and rows[0]["risk_simulated"] == "1"
    assert rows[1]["override_reason"].startswith("'=")
    assert not any(k.startswith("id_") for k in rows[0])
    with_ids = list(csv.DictReader(io.StringIO(csv_export.to_csv([_summary(include_ids=True)]))))
    assert with_ids[0]["id_PatientID"] == "PID-77"


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_export_says_when_the_image_was_a_negative_turned_back(lang):
    from dataclasses import replace

    from kneeai.i18n import t

    plain = _summary(lang)
    turned = replace(plain, inverted=True)
    words = t("report.inverted", lang)
    assert json_export.to_dict(turned)["visit"]["image_inverted"] is True
    assert json_export.to_dict(plain)["visit"]["image_inverted"] is False
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(json_export.to_json(turned)), json.loads(json_export.SCHEMA_PATH.read_text(encoding="utf-8")))
    notes = [n["text"] for n in fhir.to_bundle(turned)["entry"][2]["resource"].get("note", [])]
    assert notes == [words] and "note" not in fhir.to_bundle(plain)["entry"][2]["resource"]
    flat = lambda s: "".join(s.split())  # noqa: E731 (pdftotext wraps lines)
    assert flat(words) in flat(pdf_text(render_pdf(turned))) and flat(words) not in flat(pdf_text(render_pdf(plain)))
    rows = list(csv.DictReader(io.StringIO(csv_export.to_csv([plain, turned]))))
    assert [r["inverted"] for r in rows] == ["0", "1"]


def test_a_saved_visit_keeps_that_its_knee_was_turned_back():
    from dataclasses import replace

    from kneeai.pipeline import save_visits
    from kneeai.report.summary import summary_from_visit
    from kneeai.schemas import KneeCrop
    from kneeai.store import registry

    pid = registry.create_patient().id
    crop = KneeCrop(pixels=fake_crop(), laterality="L", box=None, source_sha256="a" * 64)
    ids = save_visits(pid, "2026-01-02", [(replace(crop, inverted=True), fake_grade(2), None), (crop, fake_grade(1), None)])
    turned, plain = (registry.get_visit(i) for i in ids)
    assert turned.inverted is True and plain.inverted is False
    assert json_export.to_dict(summary_from_visit(turned))["visit"]["image_inverted"] is True
    assert summary_from_visit(plain).inverted is False
