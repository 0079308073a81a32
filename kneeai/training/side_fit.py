"""Fit the anatomical side model of :mod:`kneeai.imaging.side` (release tooling)::

    python -m kneeai.training.side_fit --data ../shared/data/knee-kl --films ../shared/data/knee-films-dev

Trained on the OAI train knees, whose file names end in their side (``9015402R.webp``), each also
cut again with :data:`FRAMING_COPIES` other boxes (larger, smaller, moved) and every image
mirrored with the other side's label, so the model reads the anatomy and not which side was
photographed more; measured on val, and, with ``--films``, on the knees of bilateral films,
whose side is known from their position (the patient's right knee on the viewer's left).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kneeai.config import SETTINGS
from kneeai.imaging.side import SIDE_FILE, SIDE_MIN_CONFIDENCE, SideModel, side_features

__all__ = ["fit", "measure", "main"]


def _split(root: Path, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    from PIL import Image

    from kneeai.training.splits import list_split

    files, _ = list_split(root / split)
    crops, right = [], []
    for p in files:
        if p.stem[-1:] not in ("R", "L"):
            continue
        with Image.open(p) as im:
            crops.append(np.asarray(im.convert("L"), np.float32) / 255.0)
        right.append(p.stem[-1] == "R")
    return crops, np.array(right)


# Framing copies of each knee: a box this much larger or smaller, and moved by up to this share
# of its side, as the film pipeline's boxes (1.2 leg widths on the joint) differ from the OAI crops.
FRAMING_SCALE = (0.8, 1.3)
FRAMING_SHIFT = 0.1
FRAMING_COPIES = 2


def reframed(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``crop`` cut again with a box of another size and centre (edge-padded), at its own size."""
    from PIL import Image

    n = crop.shape[0]
    side = int(round(n * rng.uniform(*FRAMING_SCALE)))
    dy, dx = (int(round(v * n)) for v in rng.uniform(-FRAMING_SHIFT, FRAMING_SHIFT, 2))
    pad = side
    big = np.pad(crop, pad, mode="edge")
    top, left = pad + (n - side) // 2 + dy, pad + (n - side) // 2 + dx
    region = big[top : top + side, left : left + side]
    return np.asarray(Image.fromarray(region.astype(np.float32), mode="F").resize((n, n), Image.Resampling.BILINEAR))


def fit(crops: list[np.ndarray], right: np.ndarray, c: float = 0.1, seed: int = 0) -> SideModel:
    """Logistic regression on the crops, reframed copies of them, and the mirror images of all
    (the other side)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    every = list(crops) + [reframed(np.asarray(k, np.float32), rng) for _ in range(FRAMING_COPIES) for k in crops]
    sides = np.tile(right, 1 + FRAMING_COPIES)
    x = side_features(every)
    mirrored = side_features([np.asarray(k)[:, ::-1] for k in every])
    clf = LogisticRegression(C=c, max_iter=3000).fit(np.concatenate([x, mirrored]), np.concatenate([sides, ~sides]))
    return SideModel(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))


def measure(model: SideModel, crops: list[np.ndarray], right: np.ndarray) -> dict:
    """Accuracy over all knees, and the share given a side at SIDE_MIN_CONFIDENCE with its accuracy."""
    p = model.prob_right(crops)
    sure = np.maximum(p, 1 - p) >= SIDE_MIN_CONFIDENCE
    correct = (p >= 0.5) == right
    return {"n": int(len(right)), "accuracy": round(float(correct.mean()), 4),
            "given_share": round(float(sure.mean()), 4),
            "accuracy_when_given": round(float(correct[sure].mean()), 4) if sure.any() else None,
            "wrong_when_given": int((~correct & sure).sum())}


def _film_knees(films: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Knees of the bilateral films under ``films`` (no side in their header), with the side their
    position gives."""
    from kneeai.training.films import iter_film_knees

    crops, right = [], []
    for _, _, found in iter_film_knees(films, "film"):
        for k in found:
            if k.laterality_source == "position":
                crops.append(k.crop.pixels)
                right.append(k.laterality == "R")
    return crops, np.array(right)


def main(argv: list[str] | None = None) -> int:
    from kneeai.manifest import register

    ap = argparse.ArgumentParser(prog="python -m kneeai.training.side_fit", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=SETTINGS.data_dir)
    ap.add_argument("--films", type=Path, default=None, help="whole films: check the model on bilateral films' knees")
    ap.add_argument("--out", type=Path, default=SETTINGS.weights_dir / SIDE_FILE)
    a = ap.parse_args(argv)
    model = fit(*_split(a.data, "train"))
    meta = {"kind": "side_model", "model_id": "knee-side-logistic-32px", "min_confidence": SIDE_MIN_CONFIDENCE,
            "training_data": "Knee Osteoarthritis Severity Grading Dataset (Chen 2018) train knees and their mirror images",
            "val": measure(model, *_split(a.data, "val"))}
    if a.films is not None:
        meta["bilateral_film_knees"] = {**measure(model, *_film_knees(a.films)), "films": a.films.name,
                                        "reference": "side from position on the film"}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    if a.out.resolve().parent == SETTINGS.weights_dir.resolve():
        register(a.out.name, meta)
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
