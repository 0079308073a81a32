"""`python -m kneeai report` and the report bundle give every knee of a bilateral film."""
from __future__ import annotations

import csv
import io
import json
import zipfile

from kneeai.__main__ import main
from kneeai.archive.bundle import BatchItem, run_batch
from tests.unit.test_cli_grade import _bilateral_film


def test_report_on_a_bilateral_film_writes_one_report_per_knee(tmp_path, capsys):
    film = _bilateral_film(tmp_path)
    out = tmp_path / "out"
    assert main(["report", str(film), "--age", "63", "--sex", "F", "--bmi", "31", "--womac-pain", "8",
                 "--pdf", str(out / "r.pdf"), "--json", str(out / "r.json"), "--no-heatmap"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["r_knee1_R.json", "r_knee1_R.pdf", "r_knee2_L.json", "r_knee2_L.pdf"]
    right, left = (json.loads((out / f"r_knee{i}.json").read_text()) for i in ("1_R", "2_L"))
    # The KL4 knee is on the viewer's left (the patient's right), the KL0 knee on the other side.
    assert right["visit"]["laterality"] == "R" and left["visit"]["laterality"] == "L"
    assert right["grade"]["model_grade"] > left["grade"]["model_grade"]
    assert right["patient"]["pseudonym"] == left["patient"]["pseudonym"]  # one patient
    assert "risk" in right and "risk" in left and (out / "r_knee1_R.pdf").read_bytes().startswith(b"%PDF")


def test_report_knee_option_reports_that_knee_under_the_names_given(tmp_path, capsys):
    film = _bilateral_film(tmp_path)
    assert main(["report", str(film), "--knee", "2", "--json", str(tmp_path / "left.json"), "--no-heatmap",
                 "--override", "2", "--reason", "reviewed"]) == 0
    rec = json.loads((tmp_path / "left.json").read_text())
    assert rec["visit"]["laterality"] == "L" and rec["grade"]["final_grade"] == 2 and rec["grade"]["source"] == "override"


def test_an_override_on_a_two_knee_film_must_say_which_knee(tmp_path, capsys):
    film = _bilateral_film(tmp_path)
    assert main(["--lang", "zh", "report", str(film), "--override", "2", "--reason", "x", "--no-heatmap"]) != 0
    assert "--knee" in capsys.readouterr().err


def test_report_bundle_has_a_row_and_a_pdf_per_knee(tmp_path):
    film = _bilateral_film(tmp_path)
    result = run_batch([BatchItem("film.png", film.read_bytes())], {"film.png": {"age": "60", "sex": "M", "bmi": "28", "womac_pain": "5"}},
                       heatmap=False)
    rows = list(csv.DictReader(io.StringIO(result.csv_text)))
    assert [r["knee"] for r in rows] == ["1", "2"] and [r["laterality"] for r in rows] == ["R", "L"]
    assert rows[0]["pseudonym"] == rows[1]["pseudonym"] and "image_sha256" not in rows[0]
    assert rows[0]["tkr_cox_5y"] and rows[1]["tkr_cox_5y"]
    with zipfile.ZipFile(io.BytesIO(result.zip_bytes)) as zf:
        names = zf.namelist()
    assert len(names) == 2 and names[0].endswith("_knee1.pdf") and names[1].endswith("_knee2.pdf")
