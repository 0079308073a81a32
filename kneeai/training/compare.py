"""Compare candidate graders on val: single models, flip averaging and ensembles.

    python -m kneeai.training.compare --data ../shared/data/knee-kl --out selection.json \
        gpu-seed5=runs/gpu/s5/model.pt gpu-seed3=runs/gpu/s3/model.pt cpu-288=runs/r288/model.pt@288 ...

Writes the table that ``python -m kneeai.training.ship --selection`` puts in the model card.
Every row gets its own temperature, so rows differ by ranking, not by calibration.
Ensembles average logits; "top-k" takes the k best single models by val accuracy + QWK, a rule
fixed before looking, unlike a search over combinations.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from kneeai.grading.metrics import grading_metrics
from kneeai.grading.model import build_model
from kneeai.training.calibration import calibrate, predict_logits
from kneeai.training.data import load_split

__all__ = ["RULE", "candidate_logits", "compare", "main"]

RULE = "highest val accuracy + QWK, single model unless an ensemble chosen by a fixed rule beats it"
REPORTED = ("accuracy", "qwk", "mae", "ece")


def _metrics(logits: np.ndarray, y: np.ndarray) -> dict:
    _, probs = calibrate(torch.from_numpy(logits).float(), torch.from_numpy(y).long())
    m = grading_metrics(probs, y)
    return {k: round(float(m[k]), 4) for k in REPORTED}


def candidate_logits(weights: Path, images: torch.Tensor, size: int | None = None) -> np.ndarray:
    """Plain and mirrored val logits of one state dict at input ``size``, shape = (2, n, 5)."""
    model = build_model().eval().to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    with torch.inference_mode():
        return np.stack([predict_logits(model, images, "cpu", flip=f, size=size).numpy() for f in (False, True)])


def parse_candidate(spec: str) -> tuple[str, Path, int | None]:
    """``NAME=WEIGHTS`` or ``NAME=WEIGHTS@SIZE`` (the input side the candidate was trained at)."""
    name, _, rest = spec.partition("=")
    path, _, size = rest.rpartition("@") if "@" in rest else (rest, "", "")
    return name, Path(path), int(size) if size else None


def compare(logits: dict[str, np.ndarray], y: np.ndarray, top_k: tuple[int, ...] = (2, 3)) -> dict:
    rows = [{"candidate": name, "single": _metrics(l[0], y), "flip_averaged": _metrics(l.mean(0), y)}
            for name, l in logits.items()]
    ranked = sorted(rows, key=lambda r: -(r["single"]["accuracy"] + r["single"]["qwk"]))
    ensembles = {}
    for k in top_k:
        if k < len(rows):
            names = [r["candidate"] for r in ranked[:k]]
            ensembles[f"top-{k} singles ({', '.join(names)})"] = _metrics(np.mean([logits[n][0] for n in names], 0), y)
    ensembles[f"all {len(rows)}"] = _metrics(np.mean([l[0] for l in logits.values()], 0), y)
    best = ranked[0]
    beaten = [n for n, m in ensembles.items() if m["accuracy"] + m["qwk"] > best["single"]["accuracy"] + best["single"]["qwk"]]
    return {"rule": RULE, "val": f"lossless val, {len(y)} knees, temperature fitted per row",
            "candidates": rows, "ensembles": ensembles, "best_single": best["candidate"],
            "ensembles_beating_best_single": beaten}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.compare", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset folder with val/")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("candidates", nargs="+", metavar="NAME=WEIGHTS[@SIZE]")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    images, y, _ = load_split(Path(a.data) / "val")
    logits = {}
    for spec in a.candidates:
        name, path, size = parse_candidate(spec)
        logits[name] = candidate_logits(path, images, size)
        print(f"{name}: done", flush=True)
    result = compare(logits, y.numpy())
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    for r in result["candidates"]:
        print(f"{r['candidate']:32s} {r['single']}  flip-averaged {r['flip_averaged']}")
    for name, m in result["ensembles"].items():
        print(f"{name:32s} {m}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
