"""python -m kneeai.training.detector_fit, end to end on a few small synthetic films."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

fit = pytest.importorskip("kneeai.training.detector_fit")


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    from tests.unit.test_localize import _film

    folder = tmp_path_factory.mktemp("films")
    layouts = [
        [("kl2_9015402R.webp", False, 360, 330), ("kl3_9023348L.webp", True, 560, 1080)],
        [("kl1_9003380R.webp", False, 450, 350)],
        [("kl4_9070207R.webp", False, 500, 380), ("kl0_9006140L.webp", True, 520, 1050)],
        [("kl2_9023348R.webp", False, 600, 360)],
    ]
    shapes = [(900, 1400), (1100, 700), (1000, 1400), (1200, 720)]
    for i, (legs, shape) in enumerate(zip(layouts, shapes)):
        px = _film(legs, shape, False, laterality=None).pixels
        Image.fromarray(np.round(px * 255).astype(np.uint8)).save(folder / f"film{i}.png")
    return folder


def test_labels_then_fit_then_ship_a_detector(films, tmp_path):
    labels = tmp_path / "labels.json"
    assert fit.main(["labels", "--films", str(films), "--out", str(labels), "--sheet", str(tmp_path / "sheets")]) == 0
    entries = json.loads(labels.read_text())
    assert [len(e["boxes"]) for e in entries] == [2, 1, 2, 1]
    assert list((tmp_path / "sheets").glob("sheet_*.png"))

    weights = tmp_path / "weights"
    weights.mkdir()
    run = tmp_path / "run"
    assert fit.main(["fit", "--films", str(films), "--labels", str(labels), "--run", str(run), "--views", "2",
                     "--folds", "2", "--epochs", "1", "--ship", "--weights-dir", str(weights)]) == 0
    result = json.loads((run / "result.json").read_text())
    assert result["films"] == 4 and result["knees"] == 6
    scored = result["cross_validated"]["0.2"]["as_given"]
    assert scored["views"] == 4 and scored["knees"] == 6
    assert (run / "fold_0.onnx").exists() and (run / "fold_1.onnx").exists()

    from kneeai.grading.detector import DETECTOR_FILE, load_detector
    from kneeai.manifest import load_manifest

    entry = load_manifest(weights)[DETECTOR_FILE]
    assert entry["kind"] == "knee_detector" and entry["model_id"].startswith("knee-detector-lite0-")
    shipped = load_detector(weights)
    assert shipped is not None and shipped.model_id == entry["model_id"]
    assert isinstance(shipped(np.zeros((600, 800), np.float32)), list)

    # The whole film path with each fold's detector, on the films as given and changed copies.
    before = (run / "result.json").read_text()
    assert fit.main(["fit", "--films", str(films), "--labels", str(labels), "--run", str(run), "--folds", "2",
                     "--pipeline-check", "--check-only"]) == 0
    assert (run / "result.json").read_text() == before
    check = json.loads((run / "pipeline_check.json").read_text())
    as_given = check["as given"]
    assert as_given["profiles"]["views"] == as_given["detector"]["views"] == 4
    assert as_given["profiles"]["all_found_no_extra"] == 1.0  # the labels are the profiles' own boxes
    assert check["changed"]["profiles"]["views"] == 4 * fit.CHECK_VARIANTS
    assert len(check["per_view"]) == 4 * (1 + fit.CHECK_VARIANTS)
