"""Train, cross-validate and ship the knee-joint detector (:mod:`kneeai.grading.detector`).

    python -m kneeai.training.detector_fit labels --films DIR --out labels.json [--sheet DIR]
    python -m kneeai.training.detector_fit fit --films DIR --labels labels.json --run RUN [--ship]

``labels`` writes every knee box the film pipeline finds on each film of ``DIR`` (in the file's own
pixels) and, with ``--sheet``, contact sheets of the films with their boxes to check by eye; a box
that is wrong is corrected in the JSON by hand (``docs/detector.md`` says which were). ``fit``
caches the frozen trunk's features of many augmented views of every film, trains the head, scores
it by k-fold cross-validation over films (each film's views are scored by a head that never saw
that film), picks the heatmap threshold from those scores, trains the final head on every film,
and with ``--ship`` exports the trunk and head as one ONNX file into ``weights/`` with its sha256.
Nothing is downloaded: the trunk is the ImageNet EfficientNet-Lite0 of the pip package.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kneeai.grading.detector import (DETECTOR_FILE, DETECTOR_SIDE, DETECTOR_STRIDE, Detection, decode,
                                     detector_input)

__all__ = ["main", "augmented", "targets", "match", "build_trunk", "Head"]

log = logging.getLogger(__name__)

GRID = DETECTOR_SIDE // DETECTOR_STRIDE
# The trunk: EfficientNet-Lite0's stem and its first 11 blocks, up to the stride-16 stage (112 channels).
TRUNK_BLOCKS = 11
TRUNK_CHANNELS = 112
# Views of each film: the film as given, then augmented copies.
VIEWS_PER_FILM = 24
# A detection within this share of the reference box's side from its centre finds that knee.
MATCH_DISTANCE = 0.25
# Films are first shrunk to this long side; augmentation then runs on a copy twice the detector's.
WORK_SIDE = 2 * DETECTOR_SIDE


# ---------------------------------------------------------------------------------------------- #
# Augmentation: what other sites' films do differently.


def _clearly(knee, t: int, l: int, ch: int, cw: int) -> str | None:
    """Whether ``knee`` (centre row, centre column, side) is well inside the field of ``ch`` x ``cw``
    pixels at (``t``, ``l``) ("in"), mostly outside it ("out"), or half cut (None)."""
    cy, cx, s = knee
    y0, y1 = max(cy - s / 2, t), min(cy + s / 2, t + ch)
    x0, x1 = max(cx - s / 2, l), min(cx + s / 2, l + cw)
    if min(cy - t, t + ch - cy, cx - l, l + cw - cx) >= 0.3 * s:
        return "in"
    if max(y1 - y0, 0) * max(x1 - x0, 0) < 0.3 * s * s:
        return "out"
    return None


def _reframe(img: np.ndarray, knees: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random sub-rectangle of the film, as another clinic frames it (one knee cut off, a tighter
    field): every knee either well inside or mostly outside, never half cut."""
    h, w = img.shape
    for _ in range(30):
        ch, cw = int(h * rng.uniform(0.45, 1.0)), int(w * rng.uniform(0.3, 1.0))
        t, l = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        verdicts = [_clearly(k, t, l, ch, cw) for k in knees]
        if None in verdicts or ("in" not in verdicts and rng.random() > 0.1):
            continue
        kept = np.array([[cy - t, cx - l, s] for (cy, cx, s), v in zip(knees, verdicts) if v == "in"]).reshape(-1, 3)
        return img[t : t + ch, l : l + cw], kept
    return img, knees


def _knee_crop(img: np.ndarray, knees: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One knee cut out as another clinic crops it: square or wider or taller, looser or tighter than
    the pipeline's box and off its centre, so that the detector also measures a knee in a crop."""
    if not len(knees):
        return img, knees
    h, w = img.shape
    cy, cx, s = knees[int(rng.integers(len(knees)))]
    side = s * rng.uniform(0.9, 1.7)
    ch, cw = side, side
    if rng.random() < 0.3:
        cw *= rng.uniform(1.0, 1.85)
    elif rng.random() < 0.2:
        ch *= rng.uniform(1.0, 1.4)
    t = int(round(cy + rng.uniform(-0.12, 0.12) * s - ch / 2))
    l = int(round(cx + rng.uniform(-0.12, 0.12) * s - cw / 2))
    ch, cw = int(round(ch)), int(round(cw))
    pt, pl = max(-t, 0), max(-l, 0)
    padded = np.pad(img, ((pt, max(t + ch - h, 0)), (pl, max(l + cw - w, 0))), mode="edge")
    out = padded[t + pt : t + pt + ch, l + pl : l + pl + cw]
    kept = []
    for ky, kx, ks in knees:
        verdict = _clearly((ky, kx, ks), t, l, ch, cw)
        if (ky, kx) == (cy, cx) or verdict == "in":
            kept.append([ky - t, kx - l, ks])
        elif verdict is None:
            return img, knees  # a second knee half in the crop: no clean target, keep the film
    return np.ascontiguousarray(out, np.float32), np.array(kept).reshape(-1, 3)


def _rotate(img: np.ndarray, knees: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import rotate

    h, w = img.shape
    out = rotate(img, degrees, reshape=True, order=1, mode="constant", cval=float(np.percentile(img, 2)))
    a = math.radians(degrees)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ny, nx = (out.shape[0] - 1) / 2, (out.shape[1] - 1) / 2
    moved = []
    for y, x, s in knees:
        dy, dx = y - cy, x - cx
        # scipy rotates the array content counter-clockwise for a positive angle (rows point down).
        moved.append([ny + dy * math.cos(a) - dx * math.sin(a), nx + dy * math.sin(a) + dx * math.cos(a), s])
    return out.astype(np.float32), np.array(moved).reshape(-1, 3)


def _text(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Burned-in labels and lead markers: bright letters and blocks at random places."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = img.shape
    pil = Image.fromarray(np.asarray(img * 255, np.uint8), "L")
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(1, 4))):
        size = int(max(h, w) * rng.uniform(0.02, 0.08))
        font = ImageFont.load_default(size=max(size, 8))
        text = str(rng.choice(["R", "L", "AP", "PA", "STANDING", "WB", "2026-01-05", "R  L", "KNEE"]))
        y, x = int(rng.uniform(0, h * 0.9)), int(rng.uniform(0, w * 0.85))
        if rng.random() < 0.4:
            draw.rectangle([x - 4, y - 4, x + size * len(text) * 0.7 + 4, y + size + 4], fill=int(rng.uniform(180, 255)))
            draw.text((x, y), text, fill=0, font=font)
        else:
            draw.text((x, y), text, fill=int(rng.uniform(200, 255)), font=font)
    return np.asarray(pil, np.float32) / 255.0


def augmented(img: np.ndarray, knees: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A film (H, W) in [0, 1] and its knees (n, 3: centre row, centre column, box side) -> the
    same as another site might have exported it."""
    from PIL import Image

    u = rng.random()
    if u < 0.2:
        img, knees = _knee_crop(img, knees, rng)
    elif u < 0.55:
        img, knees = _reframe(img, knees, rng)
    if rng.random() < 0.5:
        img, knees = _rotate(img, knees, float(rng.uniform(-12, 12)))
    if rng.random() < 0.5:
        img = img[:, ::-1].copy()
        knees = knees.copy()
        knees[:, 1] = img.shape[1] - 1 - knees[:, 1]
    if rng.random() < 0.25:
        h, w = img.shape
        t, b, l, r = (int(rng.uniform(0.02, 0.15) * d) for d in (h, h, w, w))
        img = np.pad(img, ((t, b), (l, r)), constant_values=1.0 if rng.random() < 0.3 else 0.0)
        knees = knees + np.array([t, l, 0.0])
    img = np.clip(img, 0, 1)
    if rng.random() < 0.7:
        img = img ** float(math.exp(rng.uniform(math.log(0.6), math.log(1.6))))
    if rng.random() < 0.3:
        img = np.clip(rng.uniform(-0.1, 0.1) + rng.uniform(0.7, 1.2) * img, 0, 1)
    if rng.random() < 0.4:
        img = _text(img, rng)
    if rng.random() < 0.25:
        h, w = img.shape
        f = rng.uniform(2, 4)
        small = Image.fromarray(img.astype(np.float32), "F").resize((max(int(w / f), 8), max(int(h / f), 8)), Image.Resampling.BOX)
        img = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), np.float32)
    if rng.random() < 0.3:
        img = np.clip(img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape), 0, 1)
    if rng.random() < 0.25:
        import io

        buf = io.BytesIO()
        Image.fromarray(np.asarray(np.clip(img, 0, 1) * 255, np.uint8), "L").save(buf, "JPEG", quality=int(rng.integers(25, 85)))
        img = np.asarray(Image.open(buf), np.float32) / 255.0
    return np.asarray(img, np.float32), knees


# ---------------------------------------------------------------------------------------------- #
# Targets, loss, the network.


def targets(knees_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knees in detector-input pixels (n, 3) -> (heatmap target (G, G), regression targets
    (n, 5): peak row, peak column, row offset, column offset, log side)."""
    heat = np.zeros((GRID, GRID), np.float32)
    regs = []
    rows, cols = np.mgrid[0:GRID, 0:GRID]
    for cy, cx, s in knees_in:
        gy, gx = cy / DETECTOR_STRIDE, cx / DETECTOR_STRIDE
        r, c = int(np.clip(math.floor(gy), 0, GRID - 1)), int(np.clip(math.floor(gx), 0, GRID - 1))
        sigma = max(0.6, 0.1 * s / DETECTOR_STRIDE)
        g = np.exp(-((rows + 0.5 - gy) ** 2 + (cols + 0.5 - gx) ** 2) / (2 * sigma**2))
        heat = np.maximum(heat, g.astype(np.float32))
        heat[r, c] = 1.0
        regs.append([r, c, gy - (r + 0.5), gx - (c + 0.5), math.log(s / DETECTOR_SIDE)])
    return heat, np.array(regs, np.float32).reshape(-1, 5)


def build_trunk():
    import torch

    from kneeai.grading.model import build_model

    model = build_model(pretrained=True).eval()

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.bn0, self.act = model._conv_stem, model._bn0, model._swish
            self.blocks = torch.nn.ModuleList(model._blocks[:TRUNK_BLOCKS])

        def forward(self, x):
            h = self.act(self.bn0(self.stem(x)))
            for b in self.blocks:
                h = b(h)
            return h

    return Trunk().eval()


def Head(channels: int = 64):  # noqa: N802 (a module factory, named as the module it builds)
    import torch
    from torch import nn

    head = nn.Sequential(
        nn.Conv2d(TRUNK_CHANNELS, channels, 3, padding=1), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=2, dilation=2), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=4, dilation=4), nn.ReLU(),
        nn.Conv2d(channels, 4, 1),
    )
    with torch.no_grad():
        head[-1].bias.zero_()
        head[-1].bias[0] = -math.log((1 - 0.01) / 0.01)  # a knee is rare among the cells
    return head


def _loss(out, heat_t, regs: list[np.ndarray]):
    import torch

    p = torch.sigmoid(out[:, 0]).clamp(1e-4, 1 - 1e-4)
    pos = heat_t == 1
    pos_loss = -(torch.log(p) * (1 - p) ** 2)[pos].sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - heat_t) ** 4)[~pos].sum()
    n = max(int(pos.sum()), 1)
    reg_loss = out.new_zeros(())
    for i, r in enumerate(regs):
        if len(r):
            rr, cc = torch.as_tensor(r[:, 0]).long(), torch.as_tensor(r[:, 1]).long()
            pred = out[i, 1:4, rr, cc].T
            reg_loss = reg_loss + torch.nn.functional.l1_loss(pred, torch.as_tensor(r[:, 2:5]), reduction="sum")
    return (pos_loss + neg_loss) / n + reg_loss / n


# ---------------------------------------------------------------------------------------------- #
# Data: films, their labels, the cached views.


@dataclass(frozen=True)
class Film:
    name: str
    pixels: np.ndarray  # the film view (blank margins trimmed), shrunk to at most WORK_SIDE
    knees: np.ndarray  # (n, 3) centre row, centre column, side, in ``pixels``


def load_films(films: Path, labels: Path) -> list[Film]:
    from kneeai.io import load_radiograph
    from kneeai.pipeline import film_view

    out = []
    for entry in json.loads(labels.read_text(encoding="utf-8")):
        rad = load_radiograph(films / entry["film"])
        view, inner = film_view(rad)
        f = max(view.shape) / WORK_SIDE if max(view.shape) > WORK_SIDE else 1.0
        px = _resize(view.pixels, f)
        knees = np.array([[(t - inner.top + s / 2) / f, (l - inner.left + s / 2) / f, s / f]
                          for t, l, s, _ in entry["boxes"]], np.float32).reshape(-1, 3)
        out.append(Film(entry["film"], px, knees))
    return out


def _resize(px: np.ndarray, f: float) -> np.ndarray:
    from PIL import Image

    if f == 1.0:
        return np.asarray(px, np.float32)
    h, w = px.shape
    return np.asarray(Image.fromarray(np.asarray(px, np.float32), "F").resize((max(int(round(w / f)), 1), max(int(round(h / f)), 1)),
                                                                       Image.Resampling.BOX), np.float32)


def views(film: Film, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(detector input (3, S, S), knees in input pixels (n, 3)) of the film as given and ``n - 1``
    augmented copies."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img, kn = (film.pixels, film.knees) if i == 0 else augmented(film.pixels, film.knees, rng)
        x, scale = detector_input(img)
        out.append((x[0], kn / np.float32(scale)))
    return out


def cache_features(films: list[Film], n_views: int, trunk_onnx: Path, seed: int = 0):
    """Features (N, C, G, G) float16, knees per view, film index per view."""
    from kneeai.grading.runtime import onnx_session

    session = onnx_session(trunk_onnx)
    name = session.get_inputs()[0].name
    feats, knees, owner = [], [], []
    t0 = time.time()
    for i, film in enumerate(films):
        vs = views(film, n_views, seed * 100003 + i)
        x = np.stack([v for v, _ in vs])
        for j in range(0, len(x), 8):
            feats.append(session.run(None, {name: x[j : j + 8]})[0].astype(np.float16))
        knees.extend(k for _, k in vs)
        owner.extend([i] * len(vs))
        if i % 20 == 0:
            log.info("views of film %d/%d (%.0f s)", i + 1, len(films), time.time() - t0)
    return np.concatenate(feats), knees, np.array(owner)


def export_trunk(path: Path) -> None:
    from kneeai.training.onnx_export import export_checked

    export_checked(build_trunk(), path, (2, 3, DETECTOR_SIDE, DETECTOR_SIDE), "x", "features", "detector trunk")


def train_head(feats: np.ndarray, knees: list[np.ndarray], epochs: int, seed: int, lr: float = 2e-3, batch: int = 64):
    import torch

    torch.manual_seed(seed)
    head = Head()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(feats) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    tg = [targets(k) for k in knees]
    heat_all = np.stack([h for h, _ in tg])
    rng = np.random.default_rng(seed)
    head.train()
    for ep in range(epochs):
        order = rng.permutation(len(feats))
        total = 0.0
        for j in range(0, len(order), batch):
            idx = order[j : j + batch]
            x = torch.from_numpy(feats[idx].astype(np.float32))
            out = head(x)
            loss = _loss(out, torch.from_numpy(heat_all[idx]), [tg[i][1] for i in idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log.info("epoch %d: loss %.4f", ep + 1, total / len(feats))
    return head.eval()


def predict(head, feats: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.concatenate([head(torch.from_numpy(feats[j : j + 256].astype(np.float32))).numpy()
                               for j in range(0, len(feats), 256)])


# ---------------------------------------------------------------------------------------------- #
# Scoring.


def match(found: list[Detection], ref: np.ndarray) -> dict:
    """How ``found`` (input pixels) meets the reference knees ``ref`` (n, 3): which are found, how far
    off (in reference box sides) and how big, and how many detections are extra."""
    used: set[int] = set()
    offsets, sizes = [], []
    for cy, cx, s in ref:
        dists = [np.hypot(d.row - cy, d.col - cx) / s if k not in used else np.inf for k, d in enumerate(found)]
        k = int(np.argmin(dists)) if dists else -1
        if k >= 0 and dists[k] <= MATCH_DISTANCE:
            used.add(k)
            offsets.append(float(dists[k]))
            sizes.append(found[k].side / s)
    return {"knees": len(ref), "found": len(offsets), "extra": len(found) - len(used), "offsets": offsets, "sizes": sizes,
            "count_right": len(found) == len(ref) and len(offsets) == len(ref)}


def summarise(matches: list[dict]) -> dict:
    knees = sum(m["knees"] for m in matches)
    offs = [o for m in matches for o in m["offsets"]]
    sizes = [abs(math.log(s)) for m in matches for s in m["sizes"]]
    return {"views": len(matches), "knees": knees, "recall": round(sum(m["found"] for m in matches) / max(knees, 1), 4),
            "extra_per_view": round(sum(m["extra"] for m in matches) / max(len(matches), 1), 4),
            "count_right": round(float(np.mean([m["count_right"] for m in matches])), 4),
            "views_without_knee": sum(m["knees"] == 0 for m in matches),
            "false_knee_on_empty_view": round(float(np.mean([m["extra"] > 0 for m in matches if m["knees"] == 0] or [0])), 4),
            "offset_p50": round(float(np.percentile(offs, 50)), 4) if offs else None,
            "offset_p90": round(float(np.percentile(offs, 90)), 4) if offs else None,
            "size_error_p50": round(math.exp(float(np.percentile(sizes, 50))) - 1, 4) if sizes else None,
            "size_error_p90": round(math.exp(float(np.percentile(sizes, 90))) - 1, 4) if sizes else None}


def fold_of_films(n_films: int, folds: int, seed: int) -> np.ndarray:
    films = np.random.default_rng(seed).permutation(n_films)
    fold_of = np.empty(n_films, int)
    fold_of[films] = np.arange(n_films) % folds
    return fold_of


def cross_validate(feats, knees, owner, folds: int, epochs: int, seed: int) -> tuple[np.ndarray, list]:
    """Each view's head output from the head trained without its film, and the folds' heads."""
    fold_of = fold_of_films(int(owner.max()) + 1, folds, seed)
    outs = np.zeros((len(feats), 4, GRID, GRID), np.float32)
    heads = []
    for k in range(folds):
        held = fold_of[owner] == k
        log.info("fold %d/%d: %d views held out", k + 1, folds, int(held.sum()))
        head = train_head(feats[~held], [kn for kn, h in zip(knees, held) if not h], epochs, seed + k)
        outs[held] = predict(head, feats[held])
        heads.append(head)
    return outs, heads


# Changed copies of each held-out film in the pipeline check (besides the film as given).
CHECK_VARIANTS = 3


def _found(graded, ref: np.ndarray) -> dict:
    offs = []
    for cy, cx, s in ref:
        d = [np.hypot(k.box.top + k.box.height / 2 - cy, k.box.left + k.box.width / 2 - cx) / s for k in graded]
        offs.append(float(min(d)) if d else float("inf"))
    hit = [o for o in offs if o <= MATCH_DISTANCE]
    return {"knees": len(graded), "reference": len(ref), "found": len(hit), "offsets": hit,
            "all_found": len(graded) == len(ref) and len(hit) == len(ref)}


def pipeline_check(films_dir: Path, labels: list[dict], folds: int, seed: int, run: Path) -> dict:
    """The whole film path (:func:`kneeai.pipeline.knees`, ``auto``) on every film as given and on
    :data:`CHECK_VARIANTS` changed copies (:func:`augmented`), once with the start boxes from the
    intensity profiles only and once from the detector of the fold that never saw the film: the
    share of views whose knees are all found, no more (each final box within
    :data:`MATCH_DISTANCE` of a side of its reference), and how far the found ones land."""
    from dataclasses import replace
    from unittest import mock

    from kneeai.grading import detector as det
    from kneeai.grading.runtime import onnx_session
    from kneeai.io import load_radiograph
    from kneeai.pipeline import knees

    fold_of = fold_of_films(len(labels), folds, seed)
    rows = []
    for k in range(folds):
        fold_detector = det.KneeDetector(onnx_session(run / f"fold_{k}.onnx"), f"fold-{k}")
        for i in np.flatnonzero(fold_of == k):
            entry = labels[i]
            rad = load_radiograph(films_dir / entry["film"])
            ref = np.array([(t + s / 2, l + s / 2, s) for t, l, s, _ in entry["boxes"]], np.float32).reshape(-1, 3)
            rng = np.random.default_rng(seed * 7919 + int(i))
            variants = [("as given", rad, ref)]
            while len(variants) <= CHECK_VARIANTS:
                px, kn = augmented(np.asarray(rad.pixels, np.float32), ref, rng)
                if len(kn):  # a view without a knee is the gate's to refuse, not this check's
                    variants.append(("changed", replace(rad, pixels=px), kn))
            for kind, view, kn in variants:
                row = {"film": entry["film"], "view": kind}
                with mock.patch.object(det, "load_detector", lambda weights_dir=None: None):
                    row["profiles"] = _found(knees(view), kn)
                with mock.patch.object(det, "load_detector", lambda weights_dir=None: fold_detector):
                    row["detector"] = _found(knees(view), kn)
                rows.append(row)
        log.info("pipeline check: fold %d/%d done", k + 1, folds)

    def summary(rs: list[dict], key: str) -> dict:
        offs = [o for r in rs for o in r[key]["offsets"]]
        total = max(sum(r[key]["reference"] for r in rs), 1)
        return {"views": len(rs), "knees": total, "found": round(sum(r[key]["found"] for r in rs) / total, 4),
                "all_found_no_extra": round(float(np.mean([r[key]["all_found"] for r in rs])), 4),
                "offset_p50": round(float(np.percentile(offs, 50)), 4), "offset_p90": round(float(np.percentile(offs, 90)), 4)}

    out = {}
    for kind in ("as given", "changed"):
        rs = [r for r in rows if r["view"] == kind]
        out[kind] = {key: summary(rs, key) for key in ("profiles", "detector")}
    out["per_view"] = rows
    return out


def scores(outs: np.ndarray, knees: list[np.ndarray], first_view: np.ndarray, threshold: float) -> dict:
    matches = [match(decode(o, 1.0, threshold), k) for o, k in zip(outs, knees)]
    return {"as_given": summarise([m for m, f in zip(matches, first_view) if f]),
            "augmented": summarise([m for m, f in zip(matches, first_view) if not f])}


THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)


def fit(args: argparse.Namespace) -> dict:
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    trunk_path = run / "trunk.onnx"
    if not trunk_path.exists():
        export_trunk(trunk_path)
    cache = run / f"features_{args.views}.npz"
    if args.check_only:  # the folds' detectors of an earlier run: its result.json stays as it is
        check = pipeline_check(Path(args.films), json.loads(Path(args.labels).read_text(encoding="utf-8")), args.folds,
                               args.seed, run)
        (run / "pipeline_check.json").write_text(json.dumps(check, indent=1), encoding="utf-8")
        return {k: v for k, v in check.items() if k != "per_view"}
    films = load_films(Path(args.films), Path(args.labels))
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        feats, knees, owner = z["feats"], list(z["knees"]), z["owner"]
    else:
        feats, knees, owner = cache_features(films, args.views, trunk_path, args.seed)
        np.savez(cache, feats=feats, knees=np.array(knees, dtype=object), owner=owner)
    first = np.r_[True, owner[1:] != owner[:-1]]
    result: dict = {"films": len(films), "knees": int(sum(len(f.knees) for f in films)), "views_per_film": args.views,
                    "folds": args.folds, "epochs": args.epochs, "match_distance": MATCH_DISTANCE}
    if args.folds > 1:
        outs, heads = cross_validate(feats, knees, owner, args.folds, args.epochs, args.seed)
        result["cross_validated"] = {str(t): scores(outs, knees, first, t) for t in THRESHOLDS}
        np.save(run / "cv_outputs.npy", outs)
        for k, head in enumerate(heads):
            export_detector(head, run / f"fold_{k}.onnx")
        (run / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.pipeline_check:
        labels_list = json.loads(Path(args.labels).read_text(encoding="utf-8"))
        result["pipeline_check"] = pipeline_check(Path(args.films), labels_list, args.folds, args.seed, run)
        (run / "pipeline_check.json").write_text(json.dumps(result["pipeline_check"], indent=1), encoding="utf-8")
    (run / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.ship:
        head = train_head(feats, knees, args.epochs, args.seed)
        result["shipped"] = ship(head, run, Path(args.weights_dir) if args.weights_dir else None)
        (run / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def export_detector(head, path: Path) -> None:
    """The trunk and ``head`` as one ONNX network: film input (n, 3, S, S) -> (n, 4, G, G)."""
    import torch

    from kneeai.training.onnx_export import export_checked

    export_checked(torch.nn.Sequential(build_trunk(), head).eval(), path, (2, 3, DETECTOR_SIDE, DETECTOR_SIDE), "film", "heads",
                   "detector")


def ship(head, run: Path, weights_dir: Path | None = None) -> dict:
    """Export trunk + head as one ONNX file into ``weights/`` and register it."""
    import torch

    from kneeai.config import SETTINGS
    from kneeai.manifest import register, sha256_file

    wdir = weights_dir or SETTINGS.weights_dir
    path = wdir / DETECTOR_FILE
    export_detector(head, path)
    torch.save(head.state_dict(), run / "head.pt")
    model_id = f"knee-detector-lite0-{sha256_file(path)[:8]}"
    return register(DETECTOR_FILE, {"kind": "knee_detector", "model_id": model_id, "input_size": DETECTOR_SIDE,
                                    "stride": DETECTOR_STRIDE, "format": "ONNX opset 17 (heatmap, offsets, log side)",
                                    "trained_on": "knee-films-dev (154 films), augmented"}, wdir)


def labels(args: argparse.Namespace) -> dict:
    """The film pipeline's boxes on every film, in the file's pixels, and contact sheets to check them."""
    from kneeai.training.films import iter_film_knees

    out = []
    for path, rad, found in iter_film_knees(Path(args.films), "film"):
        out.append({"film": str(path.relative_to(args.films)), "shape": list(rad.shape),
                    "boxes": [[k.box.top, k.box.left, k.box.height, k.box.width] for k in found]})
    Path(args.out).write_text(json.dumps(out, indent=0), encoding="utf-8")
    if args.sheet:
        contact_sheets(Path(args.films), out, Path(args.sheet))
    return {"films": len(out), "knees": sum(len(o["boxes"]) for o in out)}


def contact_sheets(films: Path, entries: list[dict], out: Path, per_sheet: int = 20, tile: int = 256) -> None:
    from PIL import Image, ImageDraw

    from kneeai.io import load_radiograph

    out.mkdir(parents=True, exist_ok=True)
    for s in range(0, len(entries), per_sheet):
        sheet = Image.new("RGB", (tile * 5, tile * 4), "black")
        for i, e in enumerate(entries[s : s + per_sheet]):
            px = load_radiograph(films / e["film"]).pixels
            f = max(px.shape) / tile
            im = Image.fromarray(np.asarray(np.clip(_resize(px, f), 0, 1) * 255, np.uint8), "L").convert("RGB")
            d = ImageDraw.Draw(im)
            for t, l, h, w in e["boxes"]:
                d.rectangle([l / f, t / f, (l + w) / f, (t + h) / f], outline=(255, 60, 60), width=2)
                d.line([l / f, (t + h / 2) / f, (l + w) / f, (t + h / 2) / f], fill=(60, 255, 60))
            d.text((3, 3), e["film"], fill=(255, 255, 0))
            sheet.paste(im, ((i % 5) * tile, (i // 5) * tile))
        sheet.save(out / f"sheet_{s // per_sheet:02d}.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.detector_fit", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("labels", help="the pipeline's boxes on every film, to check and correct by eye")
    lp.add_argument("--films", required=True)
    lp.add_argument("--out", required=True)
    lp.add_argument("--sheet", default=None, help="folder for contact sheets of the films with their boxes")
    fp = sub.add_parser("fit", help="cross-validate and train the detector")
    fp.add_argument("--films", required=True)
    fp.add_argument("--labels", required=True)
    fp.add_argument("--run", required=True, help="folder outside the repository for the cache and results")
    fp.add_argument("--views", type=int, default=VIEWS_PER_FILM)
    fp.add_argument("--folds", type=int, default=5)
    fp.add_argument("--epochs", type=int, default=12)
    fp.add_argument("--seed", type=int, default=0)
    fp.add_argument("--ship", action="store_true", help="train on every film and ship into weights/")
    fp.add_argument("--pipeline-check", action="store_true",
                    help="run the whole film path on every film with its fold's detector (cross-validated boxes)")
    fp.add_argument("--weights-dir", default=None, help="where --ship writes (default: the project's weights/)")
    fp.add_argument("--check-only", action="store_true", help="reuse the folds' detectors of an earlier run in --run")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = labels(args) if args.cmd == "labels" else fit(args)
    print(json.dumps({k: v for k, v in result.items() if k not in ("cross_validated", "pipeline_check")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
