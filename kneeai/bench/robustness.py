"""How the grade holds up when a labelled split is changed the way another site's films differ
(kneeai.imaging.shifts): accuracy, QWK and MAE per change, and the share of knees whose grade
stays the same as on the original crop.

    python -m kneeai.bench robustness --data ../shared/data/knee-kl --out docs/robustness.json

The model card shows this table when docs/robustness.json exists.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="dataset root with <split>/<grade>/ folders")
    p.add_argument("--split", default="val")
    p.add_argument("--every", type=int, default=1, help="use every n-th knee of the split")


def run(args: argparse.Namespace) -> dict:
    from kneeai.grading.metrics import grading_metrics
    from kneeai.grading.predict import grade_batch
    from kneeai.training.data import load_split
    from kneeai.grading.weights import load_grader
    from kneeai.imaging.shifts import SITE_SHIFTS
    from kneeai.schemas import KneeCrop

    grader = load_grader()
    images, labels, _ = load_split(args.data / args.split)
    pixels = [x.numpy().astype(np.float32) / 255 for x in images[:: args.every]]
    y = labels[:: args.every].numpy()

    def graded(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        results = []
        for i in range(0, len(images), 64):  # bounds the memory of one network input
            results += grade_batch([KneeCrop(pixels=x, laterality=None, box=None) for x in images[i : i + 64]], grader)
        return np.array([r.probabilities for r in results]), np.array([r.kl_grade for r in results])

    base_probs, base = graded(pixels)
    rows, table = [], {}
    for name, fn in {"none": None, **SITE_SHIFTS}.items():
        probs, grades = (base_probs, base) if fn is None else graded([fn(x) for x in pixels])
        m = grading_metrics(probs, y)
        table[name] = {"accuracy": m["accuracy"], "qwk": m["qwk"], "mae": m["mae"],
                       "same_grade_as_original": float(np.mean(grades == base))}
        rows.append({"change": name, **{k: round(v, 4) for k, v in table[name].items()}})
    return {"rows": rows, "n": len(y), "split": args.split, "shifts": table,
            "model": {"id": grader.info.model_id, "sha256": grader.info.sha256}}
