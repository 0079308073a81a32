"""`python -m kneeai grade`: the JSON-lines contract, folders, errors and the exit code."""
from __future__ import annotations

import json
import shutil

from kneeai.__main__ import main
from tests.conftest import ROOT

KNEES = ROOT / "examples" / "knees"
CONTRACT = {"path", "kl_grade", "probabilities", "expected_grade", "uncertainty", "model"}


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_folder_is_searched_recursively_and_each_knee_is_one_json_line(tmp_path, capsys):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(KNEES / "kl4_9070207R.webp", nested / "knee.webp")
    shutil.copy(KNEES / "kl0_9006140L.webp", tmp_path / "other.webp")
    assert main(["grade", str(tmp_path), "--json"]) == 0
    lines = _lines(capsys)
    assert len(lines) == 2
    for rec in lines:
        assert set(rec) == CONTRACT
        assert rec["kl_grade"] == max(range(5), key=lambda k: rec["probabilities"][k])
        assert abs(sum(rec["probabilities"]) - 1) < 1e-4
        assert abs(rec["expected_grade"] - sum(k * p for k, p in enumerate(rec["probabilities"]))) < 1e-4
        assert set(rec["uncertainty"]) == {"entropy", "flip_disagreement"}
        assert rec["model"]["placeholder"] is False and len(rec["model"]["sha256"]) == 64
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in lines}
    # A KL4 knee and a KL0 knee are told apart.
    assert by_name["knee.webp"]["expected_grade"] > by_name["other.webp"]["expected_grade"] + 2


def test_a_bad_file_gives_an_error_line_and_the_run_keeps_going_then_exits_1(tmp_path, capsys):
    (tmp_path / "broken.dcm").write_bytes(b"DICM but not really" * 3)
    (tmp_path / "note.png").write_bytes(b"")
    shutil.copy(KNEES / "kl2_9023348R.webp", tmp_path / "z_last.webp")
    assert main(["--lang", "zh", "grade", str(tmp_path), "--json"]) == 1
    lines = _lines(capsys)
    assert len(lines) == 3
    errors = [r for r in lines if "error" in r]
    assert {r["path"].rsplit("/", 1)[-1] for r in errors} == {"broken.dcm", "note.png"}
    assert all(set(r) == {"path", "error"} for r in errors)
    assert any("文件" in r["error"] for r in errors)  # translated
    assert "kl_grade" in lines[-1]


def test_a_non_knee_image_is_rejected_unless_outside_use_is_allowed(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (224, 224), dtype=np.uint8)).save(tmp_path / "noise.png")
    assert main(["grade", str(tmp_path / "noise.png"), "--json"]) == 1
    assert set(_lines(capsys)[0]) == {"path", "error"}
    assert main(["grade", str(tmp_path / "noise.png"), "--json", "--allow-outside-use"]) == 0
    rec = _lines(capsys)[0]
    assert rec["outside_validated_use"] is True


def test_a_reader_that_stops_early_ends_the_run_quietly_without_a_traceback():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "kneeai", "grade", str(KNEES), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -0`: every write meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert b"Traceback" not in err and b"BrokenPipe" not in err
