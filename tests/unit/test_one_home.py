"""Facts quoted in several places agree with their one home (issue 13).

The README quotes measured numbers; they must be the ones in the committed JSON that the named
command wrote. The app's theme and the PDF share one palette. The dataset's split sizes have one
constant, checked against the data folders where they are present.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from kneeai.grading.dataset import SPLIT_KNEES
from kneeai.palette import ACCENT, INK

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DATA = ROOT.parent / "shared" / "data" / "knee-kl"


def _readme_section(title: str) -> str:
    """The README bullet that starts with ``- **title**``, up to the next bullet."""
    m = re.search(r"^- \*\*" + re.escape(title) + r"\*\*(.*?)(?=^- \*\*|^## )", README, re.S | re.M)
    assert m, f"README has no bullet **{title}**"
    return " ".join(m.group(1).split())


def test_readme_quotes_the_shipped_graders_val_metrics():
    m = json.loads((ROOT / "weights" / "kl_grader.metrics.json").read_text())
    text = _readme_section("KL grading")
    val = m["val"]
    assert f"({sum(map(sum, val['confusion']))} knees;" in text
    for key, word in (("accuracy", "accuracy"), ("qwk", "weighted kappa"), ("mae", "mean absolute error"),
                      ("ece", "calibration error")):
        assert f"{word} **{val[key]:.3f}**" in text, key
    recalls = ", ".join(f"KL{k} {r:.2f}" for k, r in enumerate(val["sensitivity"]))
    assert f"recall {recalls}" in text


def test_readme_quotes_the_committed_film_and_throughput_benchmarks():
    films = json.loads((ROOT / "docs" / "bench" / "films.json").read_text())
    first = films["rows"][0]
    text = _readme_section("Whole films from another hospital")
    assert f"{first['knees']} knees found on the {first['films']} films" in text
    assert ("none refused" if first["refused"] == 0 else f"{first['refused']} refused") in text
    # A mirrored film is not an acquisition change: quoted on its own, with the sides it keeps.
    same = [r["same_grade"] for r in films["rows"][1:] if r["run"] not in ("dicom_with_pixel_spacing", "mirrored")]
    assert f"keep {round(100 * min(same))}-{round(100 * max(same))}% of grades" in text
    mirrored = next(r for r in films["rows"] if r["run"] == "mirrored")
    assert (f"mirrored, {round(100 * mirrored['same_side'])}% of knees keep their side and "
            f"{round(100 * mirrored['same_grade'])}% their grade") in text

    rows = {(r["inputs"], r["command"]): r for r in json.loads((ROOT / "docs" / "bench" / "throughput.json").read_text())["rows"]}
    text = _readme_section("Archive throughput")
    assert f"{rows['knee crops', 'grade --json']['files']} knee crops at {rows['knee crops', 'grade --json']['rate']:.1f} knees/s" in text
    assert f"{rows['knee crops', 'batch --out']['rate']:.1f} through `batch --out`" in text
    assert f"{rows['whole films', 'grade --json']['rate']:.2f} films/s through `grade --json`" in text
    assert f"{rows['whole films', 'batch --out']['rate']:.2f} through `batch --out`" in text


def test_app_theme_and_exports_share_the_palette():
    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    assert theme["primaryColor"].lower() == ACCENT
    assert theme["textColor"].lower() == INK


def test_dataset_split_sizes_match_the_data_where_present():
    from kneeai.training.splits import list_split

    splits = [s for s in ("train", "val") if (DATA / s).is_dir()]
    if not splits:
        pytest.skip(f"{DATA} is not on this machine")
    for split in splits:
        files, _ = list_split(DATA / split)
        assert len(files) == SPLIT_KNEES[split], split


def test_the_readmes_python_example_runs_as_written(capsys):
    """The README's "From Python" block, run on an example knee instead of ``film.dcm``."""
    m = re.search(r"^### From Python\n.*?```python\n(.*?)```", README, re.S | re.M)
    assert m, "README has no 'From Python' example"
    knee = ROOT / "examples" / "knees" / "kl2_9015402R.webp"
    code = m.group(1).replace('"film.dcm"', repr(str(knee)))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    printed = capsys.readouterr().out.split()
    assert printed[:3] == ["1", "R", "anatomy"] and printed[3] in "01234"
    (knee_summary,) = scope["knees"]
    assert knee_summary.summary.pseudonym == "KN-DEMO01" and knee_summary.summary.risk is not None
