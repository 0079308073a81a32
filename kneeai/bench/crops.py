"""Knee crops in other sites' styles, cut from whole films and graded as uploaded files: the share
refused, the share taken for a film, and how often the grade is the knee's grade on its film.

Other hospitals crop knees their own way: looser or tighter than the OAI, wider than tall, portrait,
small or at the film's own resolution, saved as PNG or JPEG. Each knee the film path finds on a film
of ``--data`` is cut in each style of :data:`CROP_STYLES` around its box (moved a little at random,
as a person's crop would be), encoded as a file, and run through the automatic path of ``grade``
(:func:`kneeai.pipeline.iter_graded`). A crop is *taken for a film* when the film search cut its knee
(the image was judged a film, or was refused whole and searched again): the issue's target is at most
2% refused or taken for films.
"""
from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kneeai.bench.films import DATA, film_files

__all__ = ["CropStyle", "CROP_STYLES", "add_arguments", "run", "cut_style"]


@dataclass(frozen=True)
class CropStyle:
    scale: float  # crop height (or width, for portrait) in sides of the pipeline's box
    aspect: float  # width / height
    short_side: int | None  # pixels of the saved file's short side; None = the film's own pixels
    jpeg_quality: int | None  # None = PNG


CROP_STYLES: dict[str, CropStyle] = {
    "box_300px": CropStyle(1.0, 1.0, 300, None),
    "looser_1.4x_300px": CropStyle(1.4, 1.0, 300, None),
    "looser_1.3x_native": CropStyle(1.3, 1.0, None, None),
    "wide_1.85_162px_jpeg": CropStyle(1.0, 1.85, 162, 90),
    "wide_1.6_native_jpeg": CropStyle(1.1, 1.6, None, 90),
    "portrait_1.3_400px_jpeg": CropStyle(1.2, 1 / 1.3, 400, 90),
    # Cut tight above and below the joint: the knee's width fills the crop (as 300 x 162 crops from
    # one outside clinic did).
    "wide_tight_1.85_162px_jpeg": CropStyle(0.54, 1.85, 162, 90),
    "wide_tight_1.5_200px_jpeg": CropStyle(0.7, 1.5, 200, 90),
    "portrait_tight_1.5_200px_jpeg": CropStyle(0.7, 1 / 1.5, 200, 90),
}
# How far a crop's centre strays from the box's, in box sides, each way.
CROP_JITTER = 0.05


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DATA / "knee-films-dev", help="a folder of films, or one with films/ in it")
    p.add_argument("--limit", type=int, default=0, help="use the first n films (0 = all)")
    p.add_argument("--styles", nargs="*", default=list(CROP_STYLES), choices=list(CROP_STYLES))
    p.add_argument("--seed", type=int, default=0)


def cut_style(pixels: np.ndarray, box, style: CropStyle, rng: np.random.Generator) -> bytes:
    """The knee in ``box`` of a film's ``pixels`` cut and saved in ``style``, as file bytes. The crop
    stops at the film's edge, as a crop made in a viewer does."""
    from PIL import Image

    cy = box.top + box.height / 2 + rng.uniform(-CROP_JITTER, CROP_JITTER) * box.height
    cx = box.left + box.width / 2 + rng.uniform(-CROP_JITTER, CROP_JITTER) * box.width
    if style.aspect >= 1:
        h = box.height * style.scale
        w = h * style.aspect
    else:
        w = box.width * style.scale
        h = w / style.aspect
    rows, cols = pixels.shape
    top, left = int(max(0, cy - h / 2)), int(max(0, cx - w / 2))
    crop = pixels[top : int(min(rows, cy + h / 2)), left : int(min(cols, cx + w / 2))]
    img = Image.fromarray(np.round(np.clip(crop, 0, 1) * 255).astype(np.uint8))
    if style.short_side is not None:
        f = style.short_side / min(img.size)
        img = img.resize((max(1, round(img.size[0] * f)), max(1, round(img.size[1] * f))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if style.jpeg_quality is None:
        img.save(buf, "PNG")
    else:
        img.save(buf, "JPEG", quality=style.jpeg_quality)
    return buf.getvalue()


def run(args: argparse.Namespace) -> dict:
    from kneeai.io import load_radiograph
    from kneeai.pipeline import iter_graded

    folder, files = film_files(args.data, args.limit)
    films = {p.name: load_radiograph(p) for p in files}
    on_film = {g.path: g for g in iter_graded(list(films), reader=films.__getitem__)}
    knees = [(name, k.knee.box, k.result.kl_grade if k.result else None)
             for name, g in on_film.items() for k in g.knees]
    rows = []
    for name in args.styles:
        style, rng = CROP_STYLES[name], np.random.default_rng(args.seed)
        blobs = {f"{film}#{i}": cut_style(films[film].pixels, box, style, rng) for i, (film, box, _) in enumerate(knees)}
        truth = {f"{film}#{i}": grade for i, (film, _, grade) in enumerate(knees)}
        t0 = time.perf_counter()
        graded = list(iter_graded(list(blobs), reader=lambda key: load_radiograph(blobs[key])))
        seconds = time.perf_counter() - t0
        refused = as_film = same = both = 0
        for g in graded:
            if g.error is not None or not g.knees or any(k.result is None for k in g.knees):
                refused += 1
                continue
            # The film path cuts its knees with their nudged copies; a crop taken whole has none yet.
            as_film += len(g.knees) != 1 or g.knees[0].knee.neighbours is not None
            grade = truth[g.path]
            if grade is not None:
                both += 1
                same += g.knees[0].result.kl_grade == grade
        n = max(len(graded), 1)
        rows.append({"style": name, "crops": len(graded), "refused": round(refused / n, 4),
                     "taken_for_film": round(as_film / n, 4), "refused_or_film": round((refused + as_film) / n, 4),
                     "same_grade_as_film": round(same / max(both, 1), 4), "s_per_crop": round(seconds / n, 3)})
    return {"rows": rows, "films": len(files), "knees": len(knees), "target_refused_or_film": 0.02,
            "data": str(folder)}
