"""Box centring on the joint (kneeai.grading.centre): how far a displaced box ends up from the
joint, how often the grade then matches the well-placed crop's, and the time it takes.

Each labelled knee crop is reflect-padded into a film (half a crop on every side); the box starts
10-30% of its side above or below the joint and up to 10% sideways, as the film localiser can
leave it on another site's film.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="dataset root with <split>/<grade>/ folders")
    p.add_argument("--split", default="val")
    p.add_argument("--every", type=int, default=8, help="use every n-th knee of the split")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> dict:
    from kneeai.grading.centre import centre_on_joint
    from kneeai.grading.predict import grade_batch
    from kneeai.training.data import load_split
    from kneeai.grading.weights import load_grader
    from kneeai.imaging.crop import crop_knee
    from kneeai.schemas import CropBox, Radiograph

    grader = load_grader()
    images, labels, names = load_split(args.data / args.split)
    rng = np.random.default_rng(args.seed)
    before, after, seconds, moved = [], [], [], 0
    true_crops, start_crops, centred_crops, y = [], [], [], []
    for image, label, name in list(zip(images, labels.tolist(), names))[:: args.every]:
        px = image.numpy().astype(np.float32) / 255
        side = px.shape[0]
        pad = side // 2
        film = Radiograph(pixels=np.pad(px, pad, mode="reflect"), spacing_mm=None, laterality=None, source=name)
        true = CropBox(pad, pad, side, side)
        dy = int(rng.choice([-1, 1]) * rng.uniform(0.1, 0.3) * side)
        dx = int(rng.uniform(-0.1, 0.1) * side)
        start = CropBox(pad + dy, pad + dx, side, side)
        t = time.perf_counter()
        result = centre_on_joint(film, start, grader=grader)
        seconds.append(time.perf_counter() - t)
        moved += result.moved
        before.append(np.hypot(dy, dx) / side)
        after.append(np.hypot(result.box.top - pad, result.box.left - pad) / side)
        for bucket, box in ((true_crops, true), (start_crops, start), (centred_crops, result.box)):
            bucket.append(crop_knee(film, box))
        y.append(label)
    y = np.array(y)
    grades = {name: np.array([r.kl_grade for r in grade_batch(c, grader)])
              for name, c in (("true", true_crops), ("start", start_crops), ("centred", centred_crops))}
    n = len(y)
    rows = [
        {"measure": "knees", "value": n, "unit": ""},
        {"measure": "box offset before (mean)", "value": float(np.mean(before)), "unit": "box sides"},
        {"measure": "box offset after (mean)", "value": float(np.mean(after)), "unit": "box sides"},
        {"measure": "within 0.1 side after", "value": float(np.mean(np.array(after) <= 0.1)), "unit": "share"},
        {"measure": "boxes moved", "value": moved / n, "unit": "share"},
        {"measure": "grade = joint-centred crop's, before", "value": float(np.mean(grades["start"] == grades["true"])), "unit": "share"},
        {"measure": "grade = joint-centred crop's, after", "value": float(np.mean(grades["centred"] == grades["true"])), "unit": "share"},
        {"measure": "accuracy vs reference: centred crop", "value": float(np.mean(grades["true"] == y)), "unit": ""},
        {"measure": "accuracy vs reference: displaced box", "value": float(np.mean(grades["start"] == y)), "unit": ""},
        {"measure": "accuracy vs reference: after centring", "value": float(np.mean(grades["centred"] == y)), "unit": ""},
        {"measure": "time per knee p50", "value": float(np.percentile(seconds, 50)), "unit": "s"},
    ]
    return {"rows": rows, "model": {"id": grader.info.model_id, "sha256": grader.info.sha256}}
