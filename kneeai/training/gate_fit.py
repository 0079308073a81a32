"""Fit and evaluate the out-of-distribution gate of :mod:`kneeai.grading.gate` (release tooling)::

    python -m kneeai.training.gate_fit fit --data ../shared/data/knee-kl --films ../shared/data/knee-films-dev \
        --out weights/ood_gate.npz
    python -m kneeai.training.gate_fit evaluate --data ../shared/data/knee-kl --films ../shared/data/knee-films-dev \
        --out docs/ood_eval.json

The density is fitted on the OAI train knees and, with ``--films``, on the knees that the film
pipeline (:func:`kneeai.pipeline.knees`) cuts from real films of another hospital: a gate fitted on
OAI crops alone refused one real knee in 25 of those films as "not a knee". How many such knees a
gate fitted without their film would refuse is measured by cross-fitting over films.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from kneeai.config import SETTINGS
from kneeai.grading import gate as gate_module
from kneeai.grading.gate import GATE_FILE, VAL_QUANTILE, FeatureDensity, check, features, fit_density, load_gate
from kneeai.io import appearance
from kneeai.schemas import GateResult, KneeCrop, Radiograph
from kneeai.training.films import iter_film_knees

__all__ = ["main"]

log = logging.getLogger(__name__)


def _split_files(root: Path, split: str, limit: int) -> list[tuple[Path, int]]:
    from kneeai.training.splits import IMAGE_SUFFIXES

    files = []
    for grade in range(5):
        fs = sorted(p for p in (root / split / str(grade)).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit:  # an even sample of each grade, so a small fit still sees every grade
            fs = fs[:: max(1, len(fs) // max(limit // 5, 1))][: max(limit // 5, 1)]
        files += [(p, grade) for p in fs]
    return files


def _read_grey(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), np.float32) / 255.0


def _crossfit_rejection(d2: np.ndarray, patients: list[str], quantile: float, seed: int, repeats: int = 20) -> float:
    """Share of knees rejected by a threshold set on the other half of the patients (2 folds),
    averaged over ``repeats`` random splits: an estimate of the rejection rate on knees the
    threshold was not tuned on (one split of ~400 knees is too noisy at a 0.5% tail)."""
    ids = sorted(set(patients))
    rng = np.random.default_rng(seed)
    shares = []
    for _ in range(repeats):
        fold_of = dict(zip(rng.permutation(ids), np.arange(len(ids)) % 2))
        fold = np.array([fold_of[p] for p in patients])
        rejected = 0
        for k in (0, 1):
            threshold = np.quantile(d2[fold != k], quantile)
            rejected += int((d2[fold == k] > threshold).sum())
        shares.append(rejected / max(len(d2), 1))
    return float(np.mean(shares))


# Folds of the films for the cross-fitted refusal rate of real-film knees.
FILM_FOLDS = 5


def film_knee_crops(films: Path) -> tuple[list[np.ndarray], list[str]]:
    """Every knee crop the pipeline cuts from the images under ``films``, with its film's name."""
    crops: list[np.ndarray] = []
    names: list[str] = []
    for path, _, found in iter_film_knees(films):
        for k in found:
            crops.append(np.asarray(k.crop.pixels, np.float32))
            names.append(path.name)
    return crops, names


def _manifest_entry() -> dict:
    from kneeai.manifest import load_manifest

    return load_manifest().get(GATE_FILE, {})


def _film_folds(names: list[str], folds: int, seed: int) -> np.ndarray:
    """A fold per knee, by film: both knees of a film fall in the same fold."""
    films = sorted(set(names))
    order = np.random.default_rng(seed).permutation(len(films))
    fold_of = {films[i]: n % folds for n, i in enumerate(order)}
    return np.array([fold_of[n] for n in names])


def crossfit_film_rejection(fit, val_feats: np.ndarray, film_feats: np.ndarray, film_names: list[str],
                            folds: int = FILM_FOLDS, seed: int = 0) -> float:
    """Share of real-film knees whose film was left out of the density, that the density refuses.

    fit : callable(film_mask) -> FeatureDensity fitted on the OAI knees plus the film knees where
        ``film_mask`` is True (threshold unset); the threshold is then set on val as in the shipped fit.
    film_feats : ndarray, shape = (n_knees, n_features), the plain (unaugmented) film knees.
    """
    fold = _film_folds(film_names, folds, seed)
    refused = 0
    for k in range(folds):
        density = fit(fold != k)
        threshold = float(np.quantile(density.distance2(val_feats), VAL_QUANTILE))
        refused += int((density.distance2(film_feats[fold == k]) > threshold).sum())
    return refused / max(len(film_names), 1)


def _training_augmentation() -> dict[str, float]:
    """The shipped grader's own augmentation probabilities (its training config), so the density
    covers the same low-resolution and bordered knees the grader learnt to grade."""
    from kneeai.training.ship import CONFIG_FILE
    from kneeai.training.train import TrainConfig

    path = SETTINGS.weights_dir / CONFIG_FILE
    cfg = json.loads(path.read_text()) if path.exists() else {}
    return {k: float(cfg.get(k, getattr(TrainConfig, k))) for k in ("noise_p", "lowres_p", "border_p")}


def _features_and_grades(grader, crops: list[np.ndarray], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The grader's penultimate features and its grade (argmax) for each crop."""
    from kneeai.grading.inputs import input_array

    feats, grades = [], []
    for i in range(0, len(crops), batch):
        f, logits = grader.forward.features_and_logits(input_array(list(crops[i : i + batch]), grader.input_size))
        feats.append(f)
        grades.append(np.argmax(logits, 1))
    return np.concatenate(feats), np.concatenate(grades)


def _fit(args: argparse.Namespace) -> int:
    import torch

    from kneeai.training.augment import augment
    from kneeai.grading.weights import load_grader
    from kneeai.manifest import register

    torch.set_num_threads(args.threads)
    grader = load_grader()
    root = Path(args.data)
    t0 = time.time()
    # The grader was trained on augmented knees (zoom, shift, rotation, exposure, blur, noise, and
    # for later graders low resolution and borders):
    # the density covers the same envelope, so another hospital's slightly different crop or
    # exposure is not mistaken for a non-knee.
    gen = torch.Generator().manual_seed(args.seed)
    augmentation = _training_augmentation()

    def with_copies(images: list[np.ndarray], copies: int) -> list[np.ndarray]:
        u8 = torch.from_numpy(np.stack([np.rint(np.clip(x, 0, 1) * 255) for x in images]).astype(np.uint8))
        out = list(images)
        for _ in range(copies):
            for i in range(0, len(u8), 64):
                out += list(augment(u8[i : i + 64], gen, **augmentation)[:, 0].numpy())
        return out

    train = _split_files(root, "train", args.limit)
    oai_feats = features(grader, with_copies([_read_grey(p) for p, _ in train], args.augmented_copies))
    oai_labels = np.tile([g for _, g in train], 1 + args.augmented_copies)
    # The threshold comes from val: the grader has seen every train knee, so even train knees
    # held out from the density would look more typical than a new knee does.
    val = _split_files(root, "val", args.val_limit)
    val_feats = features(grader, [_read_grey(p) for p, _ in val])

    film_meta: dict = {}
    n_film_knees = 0
    film_feats, film_labels, film_knee = np.zeros((0, oai_feats.shape[1])), np.zeros(0, int), np.zeros(0, int)
    if args.films:
        crops, film_names = film_knee_crops(Path(args.films))
        if not crops:
            raise SystemExit(f"no knee found in the images under {args.films}")
        n_film_knees = len(crops)
        _, grades = _features_and_grades(grader, crops)
        film_feats = features(grader, with_copies(crops, args.film_copies))
        # A real knee carries no KL label here: it joins the Gaussian of the grade the grader gives it,
        # so its difference from the OAI knees of that grade widens the shared covariance.
        film_labels = np.tile(grades, 1 + args.film_copies)
        film_knee = np.tile(np.arange(len(crops)), 1 + args.film_copies)

    def fit(film_mask: np.ndarray) -> FeatureDensity:
        rows = film_mask[film_knee] if len(film_knee) else np.zeros(0, bool)
        return fit_density(np.concatenate([oai_feats, film_feats[rows]]), np.concatenate([oai_labels, film_labels[rows]]),
                           args.components)

    if args.films:
        plain = film_feats[:n_film_knees]
        oai_only = fit(np.zeros(n_film_knees, bool))
        oai_threshold = float(np.quantile(oai_only.distance2(val_feats), VAL_QUANTILE))
        film_meta = {
            "films": Path(args.films).name, "n_film_knees": len(film_names), "n_films": len(set(film_names)),
            "film_copies": args.film_copies,
            "films_refused_share_oai_only": round(float((oai_only.distance2(plain) > oai_threshold).mean()), 4),
            "films_refused_share_crossfit": round(crossfit_film_rejection(fit, val_feats, plain, film_names, seed=args.seed), 4),
            "film_folds": FILM_FOLDS,
        }
    density = fit(np.ones(n_film_knees, bool))
    val_d2 = density.distance2(val_feats)
    threshold = float(np.quantile(val_d2, VAL_QUANTILE))
    crossfit = _crossfit_rejection(val_d2, [p.stem[:-1] for p, _ in val], VAL_QUANTILE, args.seed)
    density = FeatureDensity(density.means, density.components, density.variances, density.residual_variance,
                             threshold, grader.info.model_id, grader.info.sha256, crossfit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    density.save(out)
    data = "Knee Osteoarthritis Severity Grading Dataset (Chen 2018): density on train, threshold on val"
    if film_meta:
        data += f"; knees cut by the film pipeline from {film_meta['n_films']} films of {film_meta['films']}, in the density"
    meta = {
        "kind": "ood_gate", "model_id": f"ood-gate-for-{grader.info.model_id}",
        "grader_model_id": grader.info.model_id, "grader_sha256": grader.info.sha256,
        "n_train_knees": len(train), "augmented_copies": args.augmented_copies, "augmentation": augmentation,
        "n_components": int(len(density.variances)), "n_val_calibration": len(val),
        "val_quantile": VAL_QUANTILE, "threshold": threshold, "val_rejected_share_crossfit": round(crossfit, 4),
        **film_meta, "training_data": data,
    }
    if out.resolve().parent == SETTINGS.weights_dir.resolve():
        register(out.name, meta)
    gate_module._GATES.clear()  # the next load_gate reads the new file
    print(json.dumps({**meta, "seconds": round(time.time() - t0, 1)}, indent=1))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from kneeai.training import ood_set
    from kneeai.grading.weights import load_grader

    torch.set_num_threads(args.threads)
    grader = load_grader()
    density = load_gate(grader)
    t0 = time.time()

    from kneeai.pipeline import upright

    def knee_crop(pixels: np.ndarray, name: str) -> KneeCrop:
        # As the pipeline cuts a knee: a negative is turned back first (kneeai.grading.polarity).
        lat = name[-1] if name[-1] in "LR" else None
        return upright(KneeCrop(pixels=pixels.astype(np.float32), laterality=lat, box=None))

    def summarise(results: list[GateResult]) -> dict:
        reasons: dict[str, int] = {}
        for r in results:
            if not r.accepted:
                reasons[r.reason or "gate.reason.unknown"] = reasons.get(r.reason or "gate.reason.unknown", 0) + 1
        n = len(results)
        scores = np.array([r.score for r in results]) if results else np.zeros(1)
        return {"n": n, "rejected": sum(not r.accepted for r in results),
                "score_min_median_max": [round(float(v), 3) for v in (scores.min(), np.median(scores), scores.max())],
                "rejected_share": round(sum(not r.accepted for r in results) / max(n, 1), 4),
                "prosthesis_flagged": sum(r.prosthesis for r in results), "reasons": reasons}

    val = _split_files(Path(args.data), "val", args.limit)
    val_pixels = [_read_grey(p) for p, _ in val]
    val_crops = [knee_crop(x, p.stem) for x, (p, _) in zip(val_pixels, val)]
    val_results = [check(c, grader, density=density) for c in val_crops]
    val_turned = [p.name for (p, _), c in zip(val, val_crops) if c.inverted]
    rejected_val = [p.name for (p, _), r in zip(val, val_results) if not r.accepted]
    by_grade = {str(k): summarise([r for (_, g), r in zip(val, val_results) if g == k]) for k in range(5)}

    # Knees as another hospital might send them: looser crop, other exposure, slight rotation.
    shifted: dict[str, list[GateResult]] = {}
    subset = val_pixels[:: max(1, len(val_pixels) // args.shifted)][: args.shifted]
    from kneeai.imaging.shifts import SITE_SHIFTS

    for name, fn in SITE_SHIFTS.items():
        shifted[name] = [check(knee_crop(fn(x), "x"), grader, density=density) for x in subset]

    prosthesis = [check(knee_crop(ood_set.prosthesis_phantom(x), "x"), grader, density=density) for x in subset]
    # The same knees as negatives (bone dark), as a viewer that inverts the grey scale exports them.
    negative_crops = [knee_crop(1.0 - x, "x") for x in subset]
    negatives = [check(c, grader, density=density) for c in negative_crops]

    def ood_rows(samples: list[ood_set.OODSample]) -> tuple[dict, dict, dict]:
        by_cat: dict[str, list[GateResult]] = {}
        content_only: dict[str, list[GateResult]] = {}
        for s in samples:
            grey = ood_set.to_grey(s.rgb)
            rad = Radiograph(pixels=grey, spacing_mm=None, laterality=None, source="ood",
                             colourfulness=appearance.colourfulness(s.rgb))
            crop = knee_crop(ood_set.centre_square(grey), "x")
            by_cat.setdefault(s.category, []).append(check(crop, grader, radiograph=rad, density=density))
            content_only.setdefault(s.category, []).append(check(crop, grader, density=density))
        everything = [r for rs in by_cat.values() for r in rs]
        return ({c: summarise(rs) for c, rs in by_cat.items()}, {c: summarise(rs) for c, rs in content_only.items()},
                summarise(everything))

    film_row = None
    if args.films:
        # Every knee the film pipeline cuts from real films of another hospital, checked as the
        # pipeline checks it (image statistics with its film, then the density). In-sample when the
        # shipped density was fitted with these films: the fit's own JSON (weights/manifest.json)
        # holds the cross-fitted share, for knees whose film was left out of the density.
        film_results, refused_knees, film_negatives = [], [], []
        for path, rad, found in iter_film_knees(Path(args.films)):
            for k in found:
                r = check(k.crop, grader, radiograph=rad, density=density)
                film_results.append(r)
                if not r.accepted:
                    refused_knees.append(f"{path.name}#{k.index}")
                film_negatives.append(check(upright(replace(k.crop, pixels=1.0 - k.crop.pixels)), grader, density=density))
        film_row = {**summarise(film_results), "refused_knees": refused_knees, "inverted": summarise(film_negatives),
                    "films_refused_share_crossfit": _manifest_entry().get("films_refused_share_crossfit"),
                    "description": f"knees cut by kneeai.pipeline.knees from the films of {Path(args.films).name}"}

    synthetic = ood_set.synthetic_samples(seed=0, per_kind=args.per_kind)
    syn_cat, syn_content, syn_all = ood_rows(synthetic)
    real = ood_set.real_samples(limit=args.real_limit)
    real_cat, real_content, real_all = ood_rows(real)
    report = {
        "grader": {"model_id": grader.info.model_id, "sha256": grader.info.sha256, "placeholder": grader.info.placeholder},
        "density_used": density is not None,
        "threshold": None if density is None else density.threshold,
        "val_knees": {**summarise(val_results), "target_max_rejected_share": 0.01, "rejected_files": rejected_val,
                      "by_kl_grade": by_grade,
                      "note": "in-sample: the density threshold is the 99.5th percentile of val; see "
                              "val_rejected_share_crossfit for knees the threshold was not tuned on"},
        "val_rejected_share_crossfit": None if density is None else density.val_crossfit_rejected_share,
        "val_knees_shifted": {k: summarise(v) for k, v in shifted.items()},
        "prosthesis_phantoms": summarise(prosthesis),
        "val_knees_inverted": {**summarise(negatives), "turned_back": sum(c.inverted for c in negative_crops),
                               "note": "the same knees as negatives, turned back first as the pipeline does"},
        "val_negatives_turned_back": val_turned,
        "film_knees": film_row,
        "synthetic_ood": {"all": syn_all, "by_category": syn_cat, "content_only_by_category": syn_content,
                          "description": "seeded synthetic images, 224x224: " + ", ".join(sorted(syn_cat))},
        "real_ood": {"all": real_all, "content_only": real_content.get("real"),
                     "description": "real non-knee pictures found on this machine (package sample images, "
                                    "documentation figures and screenshots, icons), centre square crop",
                     "files": [s.name for s in real]},
        "seconds": round(time.time() - t0, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"val_rejected_share": report["val_knees"]["rejected_share"],
                      "val_rejected_share_crossfit": report["val_rejected_share_crossfit"],
                      "synthetic_rejected_share": syn_all["rejected_share"],
                      "real_rejected_share": real_all["rejected_share"],
                      "film_knees_rejected_share": film_row and film_row["rejected_share"],
                      "val_negatives_turned_back": len(val_turned),
                      "val_inverted_rejected_share": report["val_knees_inverted"]["rejected_share"],
                      "film_knees_inverted_rejected_share": film_row and film_row["inverted"]["rejected_share"],
                      "prosthesis_flagged_share": round(report["prosthesis_phantoms"]["prosthesis_flagged"] / max(len(subset), 1), 4),
                      "shifted_rejected_share": {k: v["rejected_share"] for k, v in report["val_knees_shifted"].items()}},
                     indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.gate_fit", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    fit = sub.add_parser("fit", help="fit the feature density on the train split for the shipped grader")
    fit.add_argument("--data", default=str(SETTINGS.data_dir))
    fit.add_argument("--out", default=str(SETTINGS.weights_dir / GATE_FILE))
    fit.add_argument("--limit", type=int, default=0, help="train knees to use (0 = all), spread over the grades")
    fit.add_argument("--val-limit", type=int, default=0, help="val knees to calibrate the threshold on (0 = all)")
    fit.add_argument("--components", type=int, default=64)
    fit.add_argument("--augmented-copies", type=int, default=1,
                     help="augmented copies of each knee (the grader's training augmentation)")
    fit.add_argument("--films", default="", help="a folder of whole films whose knees (as the pipeline cuts them) join the density")
    fit.add_argument("--film-copies", type=int, default=12, help="augmented copies of each film knee")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--threads", type=int, default=1)
    ev = sub.add_parser("evaluate", help="measure false rejections on val and rejections of non-knee images")
    ev.add_argument("--data", default=str(SETTINGS.data_dir))
    ev.add_argument("--out", default="docs/ood_eval.json")
    ev.add_argument("--limit", type=int, default=0, help="val knees to use (0 = all)")
    ev.add_argument("--films", default="", help="a folder of whole films: check every knee the pipeline cuts from them")
    ev.add_argument("--shifted", type=int, default=100, help="val knees for the shifted-acquisition rows")
    ev.add_argument("--per-kind", type=int, default=6)
    ev.add_argument("--real-limit", type=int, default=200)
    ev.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    return _fit(args) if args.cmd == "fit" else _evaluate(args)


if __name__ == "__main__":
    raise SystemExit(main())
