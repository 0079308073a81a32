"""The model card takes its measured numbers from committed JSON, and only for the model it describes."""
from __future__ import annotations

import json

from kneeai.training import card
from kneeai.training.recipe import AUGMENTATION, augmentation_text


def _centre_json(root, model_id):
    rows = [{"measure": "knees", "value": 104}, {"measure": "box offset before (mean)", "value": 0.213},
            {"measure": "box offset after (mean)", "value": 0.081},
            {"measure": "accuracy vs reference: displaced box", "value": 0.611},
            {"measure": "accuracy vs reference: after centring", "value": 0.644},
            {"measure": "accuracy vs reference: centred crop", "value": 0.673}]
    (root / "docs" / "bench").mkdir(parents=True)
    (root / "docs" / "bench" / "centre.json").write_text(json.dumps({"rows": rows, "model": {"id": model_id}}))


def test_centring_numbers_come_from_the_benchmark_of_the_same_model(tmp_path, monkeypatch):
    monkeypatch.setattr(card, "REPO_ROOT", tmp_path)
    assert not any("0.644" in line for line in card._centring_lines("m1"))
    _centre_json(tmp_path, "m1")
    text = "\n".join(card._centring_lines("m1"))
    assert "104 val knees" in text and "0.611" in text and "0.644" in text and "0.673" in text and "0.21 -> 0.08" in text
    # A benchmark of another model is stale: the card says nothing measured rather than the wrong numbers.
    assert "0.644" not in "\n".join(card._centring_lines("m2"))


def test_the_augmentation_line_prints_the_trainers_ranges_and_the_runs_probabilities():
    text = augmentation_text({"noise_p": 0.5, "lowres_p": 0.2, "border_p": 0.0})
    assert f"{AUGMENTATION['scale'][0]}–{AUGMENTATION['scale'][1]}" in text and f"±{AUGMENTATION['rotation_deg']:g}°" in text
    assert "(p 0.5)" in text and "(p 0.2)" in text and "border" not in text and "consistency" not in text
    both = augmentation_text({"noise_p": 0.5, "lowres_p": 0.2, "consistency_weight": 1.0})
    assert "Jensen-Shannon consistency term (weight 1)" in both
