"""Ship a trained run into weights/: copy the weights and their training config, write the metrics,
update the manifest.

    python -m kneeai.training.ship --run /path/to/run [--name kl_grader.pt]
    python -m kneeai.training.ship --freeze-joint-scorer   # before shipping a grader of another size

The run directory is what ``kneeai.training.train`` wrote: model.pt, metrics.json, config.json
and val_predictions.npz.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from kneeai.config import SETTINGS
from kneeai.grading.card import METRICS_FILE
from kneeai.grading.dataset import DATASET_NAME, DATASET_SOURCE, SPLIT_KNEES
from kneeai.grading.metrics import expected_calibration_error, reliability_bins
from kneeai.grading.model import ARCHITECTURE
from kneeai.grading.weights import GRADER_FILE
from kneeai.manifest import register, sha256_file

__all__ = ["ship", "CONFIG_FILE", "TRAINING_DATA"]

CONFIG_FILE = "kl_grader.config.json"
TRAINING_DATA = (f"{DATASET_NAME} ({DATASET_SOURCE}), from OAI baseline bilateral PA fixed-flexion radiographs; "
                 f"train split {SPLIT_KNEES['train']} knees, model selection and temperature on val "
                 f"({SPLIT_KNEES['val']} knees)")


PACK_NOTE = ("; the network saw the train images re-encoded as lossy WebP (quality 75, `kneeai.training.pack`) "
             "to fit the transfer to a borrowed GPU machine; every val number is on the original lossless files")


def _previous(metrics_path: Path) -> list[dict]:
    """The shipped model's row (and those it replaced), read before it is overwritten."""
    if not metrics_path.exists():
        return []
    old = json.loads(metrics_path.read_text())
    row = {"model_id": old["model_id"], "input_size": old.get("input_size", 224),
           "val": {k: old["val"][k] for k in ("accuracy", "qwk", "mae", "ece")},
           "train_config": {k: old.get("train_config", {}).get(k) for k in ("epochs", "seed", "device")}}
    return [row, *old.get("previous", [])][:4]


def ship(run: Path, name: str = GRADER_FILE, weights_dir: Path | None = None, selection: Path | None = None) -> dict:
    wdir = weights_dir or SETTINGS.weights_dir
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    preds = np.load(run / "val_predictions.npz")
    probs, y = preds["probs"], preds["y"]
    training_data = TRAINING_DATA + (PACK_NOTE if config.get("train_pack") else "")
    previous = _previous(wdir / METRICS_FILE)
    input_size = int(config.get("image_size", SETTINGS.input_size))
    shutil.copyfile(run / "model.pt", wdir / name)
    shutil.copyfile(run / "config.json", wdir / CONFIG_FILE)
    short = sha256_file(wdir / name)[:8]
    model_id = f"kl-{ARCHITECTURE}-{short}"
    previous = [r for r in previous if r["model_id"] != model_id]  # shipping the same run again
    card = {
        "model_id": model_id,
        "architecture": ARCHITECTURE,
        "input_size": input_size,
        "temperature": metrics["temperature"],
        "flip_average": metrics.get("flip_average", True),
        "training_data": training_data,
        "train_config": config,
        "selection": json.loads(selection.read_text()) if selection else None,
        "val": metrics["val"],
        "val_flip_tta_uncalibrated": metrics["val_flip_tta_uncalibrated"],
        "val_plain_uncalibrated": metrics["val_plain_uncalibrated"],
        "ece_before_calibration": metrics["ece_before_calibration"],
        "ece_after_calibration": expected_calibration_error(probs, y),
        "reliability": reliability_bins(probs, y),
        "history": metrics["history"],
        # The models this one replaced, newest first: the card shows them side by side.
        "previous": previous,
    }
    (wdir / METRICS_FILE).write_text(json.dumps(card, indent=1) + "\n")
    val = metrics["val"]
    entry = register(name, {
        "kind": "kl_grader", "model_id": model_id, "architecture": ARCHITECTURE, "input_size": input_size,
        "temperature": metrics["temperature"], "flip_average": metrics.get("flip_average", True),
        "training_data": training_data, "format": "torch state_dict (weights_only)",
        "metrics_val": {k: val[k] for k in ("accuracy", "qwk", "mae", "ece", "sensitivity", "specificity")},
    }, wdir)
    register(METRICS_FILE, {"kind": "model_card_metrics", "for": name}, wdir)
    register(CONFIG_FILE, {"kind": "training_config", "for": name}, wdir)
    return entry


def freeze_joint_scorer(weights_dir: Path | None = None) -> dict:
    """Ship the current grader's ONNX export and gate as the joint scorer (kneeai.grading.joint_scorer),
    so that centring keeps them when a new grader replaces this one."""
    from kneeai.grading.gate import GATE_FILE, FeatureDensity
    from kneeai.grading.joint_scorer import SCORER_DENSITY_FILE, SCORER_FILE
    from kneeai.grading.runtime import ONNX_FILE
    from kneeai.manifest import load_manifest, verified_path

    wdir = weights_dir or SETTINGS.weights_dir
    onnx_path, onnx_entry = verified_path(ONNX_FILE, wdir)
    gate_path, _ = verified_path(GATE_FILE, wdir)
    grader = load_manifest(wdir)[GRADER_FILE]
    density = FeatureDensity.load(gate_path)
    if onnx_entry.get("source_sha256") != grader["sha256"] or density.grader_sha256 != grader["sha256"]:
        raise SystemExit("the ONNX export and the gate must both be the shipped grader's: export and refit first")
    shutil.copyfile(onnx_path, wdir / SCORER_FILE)
    shutil.copyfile(gate_path, wdir / SCORER_DENSITY_FILE)
    entry = register(SCORER_FILE, {"kind": "joint_scorer", "model_id": grader["model_id"], "source_sha256": grader["sha256"],
                                   "input_size": grader.get("input_size", 224), "format": onnx_entry.get("format")}, wdir)
    register(SCORER_DENSITY_FILE, {"kind": "joint_scorer_density", "for": SCORER_FILE}, wdir)
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.ship", description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path)
    ap.add_argument("--freeze-joint-scorer", action="store_true",
                    help="keep the shipped grader's ONNX export and gate as the joint scorer, then stop")
    ap.add_argument("--name", default=GRADER_FILE)
    ap.add_argument("--selection", type=Path, help="JSON comparing the candidate models on val, shown in the model card")
    a = ap.parse_args(argv)
    if a.freeze_joint_scorer:
        print(json.dumps(freeze_joint_scorer(), indent=1))
        return 0
    if a.run is None:
        ap.error("--run is required")
    entry = ship(a.run, a.name, selection=a.selection)
    print(json.dumps(entry, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
