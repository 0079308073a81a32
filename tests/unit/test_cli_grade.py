"""`python -m kneeai grade`: the JSON-lines contract, folders, errors and the exit code."""
from __future__ import annotations

import json
import shutil

from kneeai.__main__ import main
from tests.conftest import ROOT

KNEES = ROOT / "examples" / "knees"
CONTRACT = {"path", "knee", "kl_grade", "probabilities", "expected_grade", "uncertainty", "model"}


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
        # A crop is its own single knee: the whole image, index 1; a WebP says nothing of its side,
        # so the side is read from the knee's anatomy (or left unknown when the model is unsure).
        assert {k: rec["knee"][k] for k in ("index", "box")} == {"index": 1, "box": [0, 0, 224, 224]}
    assert {r["path"] for r in lines} == {str(nested / "knee.webp"), str(tmp_path / "other.webp")}
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in lines}
    # The originals are kl4_9070207R and kl0_9006140L.
    assert (by_name["knee.webp"]["knee"]["laterality"], by_name["knee.webp"]["knee"]["laterality_source"]) == ("R", "anatomy")
    assert by_name["other.webp"]["knee"]["laterality"] in ("L", None)
    assert by_name["other.webp"]["knee"]["laterality_source"] == ("anatomy" if by_name["other.webp"]["knee"]["laterality"] else None)
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


def _bilateral_film(tmp_path):
    """Two example knees side by side on a dark film with a margin, as a viewer exports one."""
    import numpy as np
    from PIL import Image

    right = np.asarray(Image.open(KNEES / "kl4_9070207R.webp").convert("L"))
    left = np.asarray(Image.open(KNEES / "kl0_9006140L.webp").convert("L"))
    film = np.full((420, 620), 12, np.uint8)
    film[100:324, 60:284] = right
    film[100:324, 336:560] = left
    path = tmp_path / "film.png"
    Image.fromarray(film).save(path)
    return path


def test_a_bilateral_film_gives_one_line_per_knee_with_index_side_box_and_the_path_as_given(tmp_path, capsys):
    path = _bilateral_film(tmp_path)
    assert main(["grade", str(path), "--json", "--allow-outside-use"]) == 0
    lines = _lines(capsys)
    assert [r["knee"]["index"] for r in lines] == [1, 2]
    assert all(r["path"] == str(path) for r in lines)  # nothing appended
    # The patient's right knee is on the viewer's left of an AP film.
    assert [(r["knee"]["laterality"], r["knee"]["laterality_source"]) for r in lines] == [("R", "position"), ("L", "position")]
    (a, b) = (r["knee"]["box"] for r in lines)
    assert a[2] <= b[0] + 40 and a[0] < 310 < b[2]  # one box on each half
    assert all(x1 > x0 and y1 > y0 for x0, y0, x1, y1 in (a, b))


def test_grades_are_the_same_batched_across_files_as_one_file_at_a_time(tmp_path, capsys):
    files = sorted(KNEES.glob("*.webp"))
    assert main(["grade", *map(str, files), "--json"]) == 0
    together = _lines(capsys)
    alone = []
    for f in files:
        assert main(["grade", str(f), "--json"]) == 0
        alone += _lines(capsys)
    assert [r["path"] for r in together] == [str(f) for f in files]
    for x, y in zip(together, alone):
        assert x["kl_grade"] == y["kl_grade"]
        assert max(abs(p - q) for p, q in zip(x["probabilities"], y["probabilities"])) < 1e-4


def test_a_wide_single_knee_crop_from_another_clinic_is_one_knee_not_a_film(tmp_path, capsys):
    """Other clinics crop wider than tall (seen: 300x162): one knee, graded, at its own aspect."""
    import numpy as np
    from PIL import Image

    knee = np.asarray(Image.open(KNEES / "kl2_9023348R.webp").convert("L"))
    band = knee[40:202]  # 162 rows around the joint
    wide = np.pad(band, ((0, 0), (38, 38)), mode="edge")  # 300 wide
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    assert main(["grade", str(path), "--json"]) == 0
    (rec,) = _lines(capsys)
    x0, y0, x1, y1 = rec["knee"]["box"]
    # One square box. These 162 rows show the knee's whole width (224 px), so the box is the square of
    # the width the detector reads, reaching above and below the image (centre.crop_box), not the
    # square of the height, which showed 72% of the joint's standard height.
    assert rec["knee"]["index"] == 1 and x1 - x0 == y1 - y0
    assert 1.15 * 162 <= x1 - x0 <= 300 and 0 <= x0 and x1 <= 300 and y0 < 0 and y1 > 162
    assert "error" not in rec and rec["kl_grade"] in (1, 2, 3)
