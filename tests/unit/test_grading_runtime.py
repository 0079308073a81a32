"""The shipped ONNX export grades exactly as the PyTorch weights it was made from, and loading
falls back to PyTorch whenever the export is missing, stale or unwanted."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kneeai.grading import runtime
from kneeai.grading.inputs import input_array
from kneeai.grading.model import crops_to_input
from kneeai.grading.predict import grade_knees
from kneeai.grading.weights import GRADER_FILE, Grader, load_grader
from kneeai.imaging.crop import crop_knee
from kneeai.io import load_radiograph

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "weights"
EXAMPLES = sorted((ROOT / "examples" / "knees").glob("*.webp"))


@pytest.fixture(scope="module")
def grader() -> Grader:
    g = load_grader()
    if g.info.placeholder:
        pytest.fail("no shipped grader in weights/")
    return g


def test_shipped_grader_runs_on_onnx_runtime(grader):
    assert isinstance(grader.network, runtime.OnnxNetwork)
    entry = json.loads((WEIGHTS / "manifest.json").read_text())[runtime.ONNX_FILE]
    assert entry["source_sha256"] == grader.info.sha256


def test_onnx_features_and_logits_match_torch(grader):
    crops = [crop_knee(load_radiograph(p)).pixels for p in EXAMPLES]
    x = input_array(crops, grader.input_size)
    x = np.concatenate([x, x[..., ::-1]])
    f_onnx, l_onnx = grader.network.features_and_logits(x)
    f_torch, l_torch = runtime.TorchNetwork(grader.model).features_and_logits(x)
    assert f_onnx.shape == f_torch.shape == (2 * len(crops), 1280)
    assert float(np.abs(l_onnx - l_torch).max()) < runtime.ONNX_TOLERANCE
    assert float(np.abs(f_onnx - f_torch).max()) < runtime.ONNX_TOLERANCE
    # Grad-CAM's tensor input (PyTorch) is the grading array itself.
    assert np.array_equal(crops_to_input(crops, grader.input_size).numpy(), x[: len(crops)])


def test_grades_and_gate_identical_on_both_runtimes(grader):
    rads = [load_radiograph(p) for p in EXAMPLES]
    crops = [crop_knee(r) for r in rads]
    on_torch = Grader(grader.model, grader.info, grader.temperature, grader.flip_average, grader.input_size, None)
    a = grade_knees(crops, rads, grader=grader)
    b = grade_knees(crops, rads, grader=on_torch)
    for ra, rb in zip(a, b):
        assert ra.kl_grade == rb.kl_grade
        assert np.allclose(ra.probabilities, rb.probabilities, atol=1e-5)
        assert abs(ra.flip_disagreement - rb.flip_disagreement) < 1e-5
        assert ra.gate.accepted == rb.gate.accepted


def _copy_weights(tmp_path: Path) -> Path:
    wdir = tmp_path / "weights"
    wdir.mkdir()
    for name in (GRADER_FILE, runtime.ONNX_FILE, "manifest.json"):
        shutil.copy(WEIGHTS / name, wdir / name)
    return wdir


def test_stale_export_falls_back_to_torch(grader, tmp_path):
    wdir = _copy_weights(tmp_path)
    manifest = json.loads((wdir / "manifest.json").read_text())
    manifest[runtime.ONNX_FILE]["source_sha256"] = "0" * 64  # made from another grader
    (wdir / "manifest.json").write_text(json.dumps(manifest))
    assert isinstance(runtime.load_network(grader.model, grader.info.sha256, wdir), runtime.TorchNetwork)


def test_tampered_export_falls_back_to_torch(grader, tmp_path):
    wdir = _copy_weights(tmp_path)
    with open(wdir / runtime.ONNX_FILE, "ab") as f:
        f.write(b"\0")
    assert isinstance(runtime.load_network(grader.model, grader.info.sha256, wdir), runtime.TorchNetwork)
    # ... while the untouched copy loads on ONNX Runtime.
    shutil.copy(WEIGHTS / runtime.ONNX_FILE, wdir / runtime.ONNX_FILE)
    assert isinstance(runtime.load_network(grader.model, grader.info.sha256, wdir), runtime.OnnxNetwork)


def test_environment_can_force_torch(grader, monkeypatch):
    monkeypatch.setenv(runtime.RUNTIME_ENV, "torch")
    assert isinstance(runtime.load_network(grader.model, grader.info.sha256), runtime.TorchNetwork)


def test_grading_a_crop_from_the_command_line_never_imports_pytorch(tmp_path):
    # Importing PyTorch is most of a short run's start-up; ONNX Runtime grading does not need it.
    import subprocess
    import sys

    code = ("import sys, runpy; sys.argv = ['kneeai', 'grade', %r, '--json'];\n"
            "try:\n    runpy.run_module('kneeai', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('TORCH_LOADED' if 'torch' in sys.modules else 'NO_TORCH')") % str(EXAMPLES[0])
    env = {**__import__("os").environ, "KNEEAI_DB": str(tmp_path / "r.db")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"kl_grade"' in out.stdout
    assert out.stdout.strip().endswith("NO_TORCH")
