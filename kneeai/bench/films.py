"""The film path on whole films: knees found, refusals by reason, bilateral boxes at one height,
and whether a knee's grade stays put when only the acquisition changes.

Each film of ``--films`` (default ``../shared/data/knee-films-dev/films``) goes through
:func:`kneeai.pipeline.iter_graded` as it is and again after each change of
:data:`FILM_CHANGES` (another size, a black border, JPEG, exposure curves). A knee is compared
with the same knee (same index) of the same film when both runs find the same number of knees;
"same grade" is the share of those knees graded alike, "refused changed" the share accepted in
one run and refused in the other.
"""
from __future__ import annotations

import argparse
import io
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run", "FILM_CHANGES"]

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _resize(x: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    h, w = x.shape
    img = Image.fromarray(x.astype(np.float32), mode="F").resize((max(1, round(w * factor)), max(1, round(h * factor))),
                                                                 Image.Resampling.LANCZOS)
    return np.clip(np.asarray(img, np.float32), 0, 1)


def _border(x: np.ndarray, share: float = 0.08) -> np.ndarray:
    h, w = x.shape
    return np.pad(x, ((round(h * share),) * 2, (round(w * share),) * 2), constant_values=0.0)


def _jpeg(x: np.ndarray, quality: int = 50) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), np.float32) / 255


FILM_CHANGES = {
    "half_size": lambda x: _resize(x, 0.5),
    "one_and_a_half_size": lambda x: _resize(x, 1.5),
    "black_border_8pct": _border,
    "jpeg_quality_50": _jpeg,
    "gamma_0.8": lambda x: np.clip(x, 0, 1) ** 0.8,
    "gamma_1.25": lambda x: np.clip(x, 0, 1) ** 1.25,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--films", type=Path, default=DATA / "knee-films-dev" / "films", help="a folder of whole films")
    p.add_argument("--limit", type=int, default=0, help="use the first n films (0 = all)")
    p.add_argument("--changes", nargs="*", default=list(FILM_CHANGES), choices=list(FILM_CHANGES))


def _graded(rads: list) -> list:
    from kneeai.pipeline import iter_graded

    # The radiographs are already in memory: the reader hands each one over.
    by_name = {r.source: r for r in rads}
    return list(iter_graded([r.source for r in rads], reader=by_name.__getitem__))


def _summary(graded: list) -> dict:
    counts = Counter(len(g.knees) for g in graded if g.error is None)
    reasons: Counter[str] = Counter()
    offsets = []
    for g in graded:
        if g.error is not None:
            reasons[str(g.error.params.get("detail_key") or g.error.key)] += 1
            continue
        for k in g.knees:
            if k.result is None:
                reasons[str(k.error.params.get("detail_key") or k.error.key)] += 1
        if len(g.knees) == 2:
            a, b = (k.knee.box for k in g.knees)
            offsets.append(abs((a.top + a.height / 2) - (b.top + b.height / 2)) / ((a.height + b.height) / 2))
    knees = sum(len(g.knees) for g in graded)
    return {"knees": knees, "films_by_knees": {str(k): v for k, v in sorted(counts.items())},
            "refused": sum(reasons.values()), "reasons": dict(reasons.most_common()),
            "pair_offsets": offsets}


def run(args: argparse.Namespace) -> dict:
    from dataclasses import replace

    from kneeai.grading.centre import PAIR_MAX_ROW_OFFSET
    from kneeai.io import load_radiograph

    files = sorted(p for p in args.films.iterdir() if p.is_file())
    files = files[: args.limit] if args.limit else files
    base = [replace(load_radiograph(p), source=p.name) for p in files]
    original = _graded(base)
    s = _summary(original)
    offsets = np.array(s.pop("pair_offsets") or [0.0])
    rows = [{"run": "as given", "films": len(files), "knees": s["knees"], "refused": s["refused"],
             "refused_share": round(s["refused"] / max(s["knees"], 1), 4), "same_knee_count": "", "same_grade": "",
             "refused_changed": "", "mean_abs_expected_grade_change": ""}]
    detail = {"as given": {**s, "pairs": int(len(offsets)), "pairs_beyond_max_offset": int((offsets > PAIR_MAX_ROW_OFFSET).sum()),
                           "pair_offset_median": round(float(np.median(offsets)), 4)}}
    for name in args.changes:
        changed = [replace(r, pixels=FILM_CHANGES[name](r.pixels), spacing_mm=None) for r in base]
        graded = _graded(changed)
        cs = _summary(graded)
        cs.pop("pair_offsets")
        same_count = same_grade = flipped = compared = 0
        deltas = []
        for a, b in zip(original, graded):
            if a.error is not None or b.error is not None or len(a.knees) != len(b.knees):
                continue
            same_count += 1
            for ka, kb in zip(a.knees, b.knees):
                compared += 1
                flipped += (ka.result is None) != (kb.result is None)
                if ka.result is not None and kb.result is not None:
                    same_grade += ka.result.kl_grade == kb.result.kl_grade
                    deltas.append(abs(ka.result.expected_grade - kb.result.expected_grade))
        both = max(len(deltas), 1)
        rows.append({"run": name, "films": len(files), "knees": cs["knees"], "refused": cs["refused"],
                     "refused_share": round(cs["refused"] / max(cs["knees"], 1), 4),
                     "same_knee_count": round(same_count / max(len(files), 1), 4),
                     "same_grade": round(same_grade / both, 4), "refused_changed": round(flipped / max(compared, 1), 4),
                     "mean_abs_expected_grade_change": round(float(np.mean(deltas)) if deltas else 0.0, 4)})
        detail[name] = cs
    return {"rows": rows, "detail": detail, "films": str(args.films)}
