"""Burned-in annotation, the CSV formula guard, and user text inside markdown."""
from __future__ import annotations

import csv
import dataclasses
import io
import re

import pytest

from kneeai.errors import BurnedInAnnotation
from kneeai.io import has_burned_in_annotation, load_radiograph
from kneeai.report import csv_export
from kneeai.report.markdown import escape_markdown
from kneeai.report.pdf import render_pdf
from tests.dicom_corpus import base_dataset, reference_knee, to_bytes
from tests.unit.test_report_exports import _summary


def _film(burned: str | None) -> bytes:
    ds = base_dataset(reference_knee(64, 48))
    if burned is not None:
        ds.BurnedInAnnotation = burned
    return to_bytes(ds)


def test_burned_in_annotation_yes_is_surfaced_on_the_radiograph():
    rad = load_radiograph(_film("YES"))
    assert has_burned_in_annotation(rad) and rad.meta["BurnedInAnnotation"] == "YES"
    assert "intake.warn.burned_in_annotation" in rad.warnings
    for value in ("NO", None):
        other = load_radiograph(_film(value))
        assert not has_burned_in_annotation(other) and "intake.warn.burned_in_annotation" not in other.warnings
    assert not has_burned_in_annotation(None)


def test_a_burned_in_film_blocks_the_image_export_until_the_user_confirms():
    summary = _summary()
    assert summary.crop_pixels is not None
    with pytest.raises(BurnedInAnnotation) as caught:
        render_pdf(summary, burned_in_annotation=True)
    assert "Burned In Annotation: YES" in caught.value.message("en") and "烧录" in caught.value.message("zh")
    assert render_pdf(summary, burned_in_annotation=True, confirm_burned_in=True).startswith(b"%PDF")
    assert render_pdf(summary).startswith(b"%PDF")  # no flag, no question
    # A summary without the knee's image carries nothing burned in.
    assert render_pdf(dataclasses.replace(summary, crop_pixels=None), burned_in_annotation=True).startswith(b"%PDF")


@pytest.mark.parametrize("reason", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=HYPERLINK(\"x\")", "\r=cmd|' /C calc'!A0"])
def test_csv_defuses_every_formula_start_including_tab_and_carriage_return(reason):
    text = csv_export.to_csv([_summary(override=(1, reason))])
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["override_reason"] == "'" + reason.replace("\r", "\n")


def test_csv_leaves_ordinary_text_alone():
    row = next(csv.DictReader(io.StringIO(csv_export.to_csv([_summary(override=(1, "narrowing, 2 mm"))]))))
    assert row["override_reason"] == "narrowing, 2 mm"


def test_user_text_is_escaped_for_markdown():
    reason = "**URGENT** [see](https://evil.example) :red[alarm] $x^2$ <b>hi</b>\n# head"
    escaped = escape_markdown(reason)
    assert "\n" not in escaped
    # Every punctuation character is escaped, so nothing is markup; the letters stay as typed.
    assert escaped.startswith("\\*\\*URGENT\\*\\* \\[see\\]\\(https\\:\\/\\/evil\\.example\\)")
    assert "\\:red\\[alarm\\]" in escaped and "\\$x\\^2\\$" in escaped and "\\<b\\>hi\\<\\/b\\>" in escaped
    assert re.sub(r"\\(.)", r"\1", escaped) == reason.replace("\n", " ")  # and nothing is lost
    assert escape_markdown("平片示关节间隙变窄") == "平片示关节间隙变窄"
    assert escape_markdown(None) == ""


def test_views_escape_override_reasons():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path, needle in (("views/patient.py", "reason=escape_markdown(v.override.reason)"),
                         ("views/risk.py", "reason=escape_markdown(override[1])"),
                         ("ui/record.py", "reason=escape_markdown(current[1])")):
        assert needle in (root / path).read_text(encoding="utf-8"), path


def _gradable_film(tmp_path, burned: str):
    ds = base_dataset(reference_knee(224, 224))
    ds.BurnedInAnnotation = burned
    path = tmp_path / f"knee_{burned}.dcm"
    path.write_bytes(to_bytes(ds))
    return path


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_cli_report_writes_no_pdf_of_a_burned_in_film_unless_confirmed(tmp_path, capsys, lang):
    from kneeai.__main__ import main
    from kneeai.i18n import t

    film = _gradable_film(tmp_path, "YES")
    pdf, js = tmp_path / "out.pdf", tmp_path / "out.json"
    assert main(["--lang", lang, "report", str(film), "--pdf", str(pdf), "--json", str(js), "--no-heatmap"]) == 1
    assert t("cli.report.burned_in", lang) in capsys.readouterr().err
    assert not pdf.exists() and js.exists()  # the JSON carries no image
    assert main(["report", str(film), "--pdf", str(pdf), "--no-heatmap", "--confirm-burned-in"]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    plain = _gradable_film(tmp_path, "NO")
    assert main(["report", str(plain), "--pdf", str(tmp_path / "plain.pdf"), "--no-heatmap"]) == 0


def test_a_report_bundle_keeps_the_row_of_a_burned_in_film_but_makes_its_pdf_only_when_confirmed(tmp_path):
    import zipfile

    from kneeai.archive.bundle import BatchItem, run_batch
    from kneeai.i18n import t

    items = [BatchItem("a.dcm", _gradable_film(tmp_path, "YES").read_bytes()),
             BatchItem("b.dcm", _gradable_film(tmp_path, "NO").read_bytes())]
    result = run_batch(items, heatmap=False)
    rows = list(csv.DictReader(io.StringIO(result.csv_text)))
    assert len(rows) == 2 and rows[0]["model_grade"] != "" and rows[0]["error"] == t("batch.burned_in_no_pdf", "en")
    assert rows[1]["error"] == ""
    assert [n.startswith("002_") for n in zipfile.ZipFile(io.BytesIO(result.zip_bytes)).namelist()] == [True]
    confirmed = run_batch(items, heatmap=False, confirm_burned_in=True)
    assert len(zipfile.ZipFile(io.BytesIO(confirmed.zip_bytes)).namelist()) == 2


def test_a_file_past_the_upload_cap_is_refused_before_it_is_read_by_path_bytes_or_stream(tmp_path, monkeypatch):
    import tomllib

    from kneeai.config import SETTINGS, STREAMLIT_CONFIG
    from kneeai.errors import ImageTooLarge
    from kneeai.i18n import t

    # One home: the library's cap is Streamlit's own server.maxUploadSize.
    assert SETTINGS.max_upload_mb == tomllib.loads(STREAMLIT_CONFIG.read_text())["server"]["maxUploadSize"]
    monkeypatch.setattr("kneeai.config.SETTINGS", dataclasses.replace(SETTINGS, max_upload_mb=1))
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (2**20 + 10))
    for source in (big, big.read_bytes(), io.BytesIO(big.read_bytes())):
        with pytest.raises(ImageTooLarge) as err:
            load_radiograph(source)
        assert err.value.message("zh") == t("intake.error.file_too_large", "zh", mb=1.0, limit_mb=1)
