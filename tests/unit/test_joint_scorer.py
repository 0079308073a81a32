"""Centring scores boxes with its own shipped network and density, whatever grader is loaded."""
from __future__ import annotations

import json
import shutil

import numpy as np

from kneeai.grading import joint_scorer
from kneeai.grading.gate import GATE_FILE, load_gate
from kneeai.grading.joint_scorer import SCORER_DENSITY_FILE, SCORER_FILE, joint_scoring, load_joint_scorer
from kneeai.grading.weights import load_grader
from kneeai.manifest import MANIFEST_NAME
from tests.conftest import ROOT

WEIGHTS = ROOT / "weights"


def test_the_shipped_scorer_is_checked_and_carries_the_density_fitted_for_it():
    scorer = load_joint_scorer()
    assert scorer is not None
    assert (scorer.density.grader_model_id, scorer.density.grader_sha256) == (scorer.info.model_id, scorer.info.sha256)
    net, density = joint_scoring(load_grader())
    assert net is scorer and density is scorer.density
    # Its features are the network's own: 1280 per crop, finite.
    f = scorer.forward.features_and_logits(np.zeros((2, 3, scorer.input_size, scorer.input_size), np.float32))[0]
    assert f.shape == (2, 1280) and np.isfinite(f).all()


def _weights_copy(tmp_path, drop=()):
    wdir = tmp_path / "weights"
    wdir.mkdir()
    manifest = json.loads((WEIGHTS / MANIFEST_NAME).read_text())
    for name in (SCORER_FILE, SCORER_DENSITY_FILE, GATE_FILE):
        if name not in drop:
            shutil.copyfile(WEIGHTS / name, wdir / name)
    for name in drop:
        manifest.pop(name, None)
    (wdir / MANIFEST_NAME).write_text(json.dumps(manifest))
    return wdir


def test_without_its_density_the_scorer_is_not_used(tmp_path):
    load_joint_scorer.cache_clear()
    try:
        assert load_joint_scorer(_weights_copy(tmp_path, drop=(SCORER_DENSITY_FILE,))) is None
    finally:
        load_joint_scorer.cache_clear()


def test_a_tampered_scorer_is_refused(tmp_path):
    wdir = _weights_copy(tmp_path)
    with open(wdir / SCORER_FILE, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    load_joint_scorer.cache_clear()
    try:
        assert load_joint_scorer(wdir) is None
    finally:
        load_joint_scorer.cache_clear()


def test_without_a_scorer_centring_falls_back_to_the_grader_and_its_gate(monkeypatch):
    monkeypatch.setattr(joint_scorer, "load_joint_scorer", lambda weights_dir=None: None)
    grader = load_grader()
    net, density = joint_scoring(grader)
    assert net is grader and density is load_gate(grader)
