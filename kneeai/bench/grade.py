"""Grading speed (latency with and without Grad-CAM, batch throughput, memory, load time) and,
with ``--data``, accuracy of the shipped model on a labelled split."""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from kneeai.config import SETTINGS

__all__ = ["add_arguments", "run"]

# Targets from issue 4, on this 2-core machine.
TARGET_LATENCY_WITH_GRADCAM_S = 0.3
TARGET_BATCH_KNEES_PER_S = 20.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeats", type=int, default=30, help="single-knee timings per mode")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--data", type=Path, default=None, help="dataset root with <split>/<grade>/ folders, for accuracy")
    p.add_argument("--split", default="val")


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def run(args: argparse.Namespace) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from kneeai.explain import explain
    from kneeai.grading.predict import grade, grade_batch
    from kneeai.grading.weights import load_grader
    from kneeai.imaging.crop import crop_knee
    from kneeai.io import load_radiograph

    t0 = time.perf_counter()
    load_grader.cache_clear()
    grader = load_grader()
    load_s = time.perf_counter() - t0

    crops = [crop_knee(load_radiograph(p)) for p in sorted(SETTINGS.examples_dir.glob("knees/*.webp"))]
    grade(crops[0], grader=grader)  # warm-up
    plain, with_cam = [], []
    for i in range(args.repeats):
        c = crops[i % len(crops)]
        t = time.perf_counter()
        grade(c, grader=grader)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = grade(c, grader=grader)
        explain(c, r, method="gradcam", grader=grader)
        with_cam.append(time.perf_counter() - t)

    batch = [crops[i % len(crops)] for i in range(args.batch)]
    grade_batch(batch, grader)
    t = time.perf_counter()
    for _ in range(args.batches):
        grade_batch(batch, grader)
    throughput = args.batch * args.batches / (time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [
        {"measure": "model load", "value": load_s, "unit": "s", "target": "", "meets": ""},
        {"measure": "per knee p50 (grade only)", "value": _pct(plain, 50), "unit": "s", "target": "", "meets": ""},
        {"measure": "per knee p95 (grade only)", "value": _pct(plain, 95), "unit": "s", "target": "", "meets": ""},
        {"measure": "per knee p50 (grade + Grad-CAM)", "value": _pct(with_cam, 50), "unit": "s",
         "target": f"< {TARGET_LATENCY_WITH_GRADCAM_S}", "meets": _pct(with_cam, 50) < TARGET_LATENCY_WITH_GRADCAM_S},
        {"measure": "per knee p95 (grade + Grad-CAM)", "value": _pct(with_cam, 95), "unit": "s",
         "target": f"< {TARGET_LATENCY_WITH_GRADCAM_S}", "meets": _pct(with_cam, 95) < TARGET_LATENCY_WITH_GRADCAM_S},
        {"measure": f"batch throughput (batch {args.batch}, no explanation)", "value": throughput, "unit": "knees/s",
         "target": f">= {TARGET_BATCH_KNEES_PER_S}", "meets": throughput >= TARGET_BATCH_KNEES_PER_S},
        {"measure": "peak resident memory", "value": peak_mb, "unit": "MB", "target": "", "meets": ""},
    ]
    extra = {"model": {"id": grader.info.model_id, "sha256": grader.info.sha256, "placeholder": grader.info.placeholder}}
    if args.data:
        extra["accuracy"] = _accuracy(args.data / args.split, grader, args.batch)
        for k in ("accuracy", "qwk", "mae", "ece"):
            rows.append({"measure": f"{args.split} {k}", "value": extra["accuracy"][k], "unit": "", "target": "", "meets": ""})
        for g, s in enumerate(extra["accuracy"]["sensitivity"]):
            rows.append({"measure": f"{args.split} recall KL{g}", "value": s, "unit": "", "target": "", "meets": ""})
    return {"rows": rows, **extra}


def _accuracy(split_dir: Path, grader, batch: int) -> dict:
    from kneeai.grading.metrics import grading_metrics
    from kneeai.grading.predict import grade_batch
    from kneeai.imaging.crop import crop_knee
    from kneeai.io import load_radiograph

    probs, labels = [], []
    for g in range(5):
        files = sorted((split_dir / str(g)).iterdir())
        for i in range(0, len(files), batch):
            crops = [crop_knee(load_radiograph(p)) for p in files[i : i + batch]]
            probs += [r.probabilities for r in grade_batch(crops, grader)]
            labels += [g] * len(crops)
    return grading_metrics(np.array(probs), np.array(labels))
