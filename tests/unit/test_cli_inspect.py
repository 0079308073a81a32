"""``python -m kneeai inspect``: human and JSON output, identifiers hidden by default, errors."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kneeai.__main__ import main
from tests.dicom_corpus import build_corpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def films(tmp_path) -> dict[str, Path]:
    corpus = build_corpus()
    out = {}
    for name in ("multiframe", "truncated_pixels", "j2k_lossless"):
        out[name] = tmp_path / f"{name}.dcm"
        out[name].write_bytes(corpus[name].data)
    return out


def test_human_output_shows_what_was_read_but_not_who(films, capsys) -> None:
    assert main(["inspect", str(films["multiframe"])]) == 0
    out = capsys.readouterr().out
    assert "DICOM Explicit VR Little Endian 1.2.840.10008.1.2.1" in out
    assert "320 × 256 pixels" in out
    assert "0.15 × 0.14 mm" in out
    assert "right (R)" in out
    assert "This DICOM has several frames; the first one is shown." in out
    assert "Modality: DX" in out and "BodyPartExamined: KNEE" in out
    assert hashlib.sha256(films["multiframe"].read_bytes()).hexdigest() in out
    assert "Doe^Jane" not in out and "PID-0001" not in out
    assert "identifying tags hidden" in out


def test_identifiers_only_on_request(films, capsys) -> None:
    assert main(["inspect", str(films["j2k_lossless"]), "--show-identifiers"]) == 0
    out = capsys.readouterr().out
    assert "PatientName: Doe^Jane" in out and "PatientID: PID-0001" in out


def test_json_output(films, capsys) -> None:
    assert main(["inspect", str(films["j2k_lossless"]), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["source"].endswith("1.2.840.10008.1.2.4.90")
    assert rec["shape"] == [320, 256]
    assert rec["spacing_mm"] == [0.15, 0.14]
    assert rec["laterality"] == "R"
    assert rec["meta"]["Modality"] == "DX"
    assert rec["warnings"] == []
    assert 0.0 <= rec["stats"]["min"] < rec["stats"]["mean"] < rec["stats"]["max"] <= 1.0
    assert "identifiers" not in rec and rec["identifiers_count"] > 0
    assert rec["sha256"] == hashlib.sha256(films["j2k_lossless"].read_bytes()).hexdigest()


def test_error_is_translated_and_exits_1(films, capsys) -> None:
    assert main(["--lang", "zh", "inspect", str(films["truncated_pixels"])]) == 1
    err = capsys.readouterr().err
    assert "DICOM 像素数据比文件头声明的短" in err
    # --lang is also accepted after the command
    assert main(["inspect", str(films["truncated_pixels"]), "--lang", "zh"]) == 1
    assert "DICOM 像素数据比文件头声明的短" in capsys.readouterr().err


def test_json_error_object(films, capsys) -> None:
    assert main(["inspect", str(films["truncated_pixels"]), "--json"]) == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec == {
        "path": str(films["truncated_pixels"]),
        "error": "The DICOM's pixel data is shorter than its header promises: the file is truncated or damaged.",
        "error_key": "error.truncated_pixels",
    }


def test_missing_file_is_a_translated_error_not_a_traceback(tmp_path, capsys) -> None:
    assert main(["inspect", str(tmp_path / "absent.png")]) == 1
    captured = capsys.readouterr()
    assert "absent.png" in captured.err and "Traceback" not in captured.err


def test_runs_as_a_module() -> None:
    knee = ROOT / "examples" / "knees" / "kl0_9006140L.webp"
    done = subprocess.run([sys.executable, "-m", "kneeai", "inspect", str(knee), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source"] == "WEBP 8-bit"
