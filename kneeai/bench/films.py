"""The film path on whole films: knees found, refused, time per film, and whether a knee's box
and grade stay put when only the acquisition changes.

``python -m kneeai.bench films --data ../shared/data/knee-films-dev`` runs every film of
``DATA/films`` (or of ``DATA`` itself) through :func:`kneeai.pipeline.iter_graded` as it is, then
after each change of :data:`FILM_CHANGES`: half size, a 10% black border, the same pixels as a
DICOM with a pixel spacing, 1.5x size, JPEG, two exposure curves. A knee is compared with the
same knee (same index) of the same film when both runs find the same number of knees:

- same grade: the share of knees compared that got the same KL grade (both graded);
- box offset: the distance between the two boxes' centres, in the original film's pixels, as a
  share of the original box side (median and 90th percentile);
- refused changed: the share accepted in one run and refused in the other;
- same side: the share of knees given the same side (R / L) as in the original run.

The mirrored change flips the film left to right, as an export or a PA film shown the wrong way
round may: its knees are compared in reverse order, and a knee keeps its side only where the film
itself says which side it is (its R / L marker; the position on the film cannot tell).

``--per-film`` also prints one line per film of the original run.
"""
from __future__ import annotations

import argparse
import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run", "film_files", "FILM_CHANGES", "Change"]

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# The pixel spacing the DICOM change writes: a 43 cm detector read out at 3000 pixels.
DICOM_SPACING_MM = 0.143


@dataclass(frozen=True)
class Change:
    """A change of acquisition: the new film, and how a box on it maps back onto the original."""

    make: Callable  # Radiograph -> Radiograph
    # (top, left, side) on the changed film -> (row, col) of the box centre on the original
    centre_back: Callable[[int, int, int, tuple[int, int]], tuple[float, float]]
    # The film is flipped left to right: its knees, from the viewer's left, are the original's reversed.
    mirrors: bool = False


def _resize(x: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    h, w = x.shape
    img = Image.fromarray(x.astype(np.float32), mode="F").resize((max(1, round(w * factor)), max(1, round(h * factor))),
                                                                 Image.Resampling.LANCZOS)
    return np.clip(np.asarray(img, np.float32), 0, 1)


def _jpeg(x: np.ndarray, quality: int = 50) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), np.float32) / 255


def _as_dicom(rad):
    """The film's pixels as a 12-bit DX DICOM with a pixel spacing, read back through intake."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from kneeai.io import load_radiograph

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # DX for presentation
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "KNEE", "AP"
    ds.PixelSpacing = [DICOM_SPACING_MM, DICOM_SPACING_MM]
    ds.set_pixel_data(np.round(np.clip(rad.pixels, 0, 1) * 4095).astype(np.uint16), "MONOCHROME2", 12)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return replace(load_radiograph(buf.getvalue()), source=rad.source)


def _same_place(top: int, left: int, side: int, shape) -> tuple[float, float]:
    return top + side / 2, left + side / 2


def _scaled(factor: float):
    return lambda top, left, side, shape: ((top + side / 2) / factor, (left + side / 2) / factor)


def _bordered(share: float):
    def back(top, left, side, shape):
        # The border added round(h * share / (1 + 2 share)) rows: recover it from the new shape.
        h, w = shape
        return top + side / 2 - round(h / (1 + 2 * share) * share), left + side / 2 - round(w / (1 + 2 * share) * share)
    return back


def _border(rad, share: float = 0.10):
    h, w = rad.pixels.shape
    return replace(rad, pixels=np.pad(rad.pixels, ((round(h * share),) * 2, (round(w * share),) * 2), constant_values=0.0))


def _mirrored_back(top, left, side, shape):
    return top + side / 2, shape[1] - (left + side / 2)


FILM_CHANGES: dict[str, Change] = {
    "half_size": Change(lambda r: replace(r, pixels=_resize(r.pixels, 0.5)), _scaled(0.5)),
    "black_border_10pct": Change(_border, _bordered(0.10)),
    "dicom_with_pixel_spacing": Change(_as_dicom, _same_place),
    "one_and_a_half_size": Change(lambda r: replace(r, pixels=_resize(r.pixels, 1.5)), _scaled(1.5)),
    "jpeg_quality_50": Change(lambda r: replace(r, pixels=_jpeg(r.pixels)), _same_place),
    "gamma_0.8": Change(lambda r: replace(r, pixels=np.clip(r.pixels, 0, 1) ** 0.8), _same_place),
    "gamma_1.25": Change(lambda r: replace(r, pixels=np.clip(r.pixels, 0, 1) ** 1.25), _same_place),
    "mirrored": Change(lambda r: replace(r, pixels=np.ascontiguousarray(r.pixels[:, ::-1])), _mirrored_back, mirrors=True),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DATA / "knee-films-dev", help="a folder of films, or one with films/ in it")
    p.add_argument("--limit", type=int, default=0, help="use the first n films (0 = all)")
    p.add_argument("--changes", nargs="*", default=list(FILM_CHANGES), choices=list(FILM_CHANGES))
    p.add_argument("--per-film", action="store_true", help="also print one line per film")


def film_files(data: Path, limit: int = 0) -> tuple[Path, list[Path]]:
    """The folder of films under ``data`` (``data/films`` when there is one) and its films, sorted,
    the first ``limit`` of them when ``limit`` is set; the folder's README is not a film."""
    folder = data / "films" if (data / "films").is_dir() else data
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.lower().startswith("readme"))
    return folder, files[:limit] if limit else files


def _graded(rads: list) -> tuple[list, float]:
    from kneeai.pipeline import iter_graded

    by_name = {r.source: r for r in rads}  # already decoded: the reader hands each one over
    t0 = time.perf_counter()
    out = list(iter_graded([r.source for r in rads], reader=by_name.__getitem__))
    return out, time.perf_counter() - t0


def _summary(graded: list) -> dict:
    from kneeai.archive.rows import error_reason

    counts = Counter(len(g.knees) for g in graded if g.error is None)
    reasons: Counter[str] = Counter()
    for g in graded:
        if g.error is not None:
            reasons[error_reason(g.error)] += 1
        for k in g.knees:
            if k.result is None:
                reasons[error_reason(k.error)] += 1
    return {"knees": sum(len(g.knees) for g in graded), "films_by_knees": {str(k): v for k, v in sorted(counts.items())},
            "refused": sum(reasons.values()), "reasons": dict(reasons.most_common())}


def _pair_offsets(graded: list) -> np.ndarray:
    from kneeai.grading.centre import row_offset

    return np.array([row_offset(*(k.knee.box for k in g.knees)) for g in graded if len(g.knees) == 2] or [0.0])


def run(args: argparse.Namespace) -> dict:
    from kneeai.grading.centre import PAIR_MAX_ROW_OFFSET
    from kneeai.io import load_radiograph

    folder, files = film_files(args.data, args.limit)
    base = [replace(load_radiograph(p), source=p.name) for p in files]
    original, seconds = _graded(base)
    s = _summary(original)
    offsets = _pair_offsets(original)
    n = max(len(files), 1)
    rows = [{"run": "as given", "films": len(files), "knees": s["knees"], "refused": s["refused"],
             "s_per_film": round(seconds / n, 3), "same_knee_count": "", "same_grade": "", "box_offset_p50": "",
             "box_offset_p90": "", "refused_changed": "", "same_side": ""}]
    per_film = [{"film": g.path, "knees": len(g.knees), "refused": sum(k.result is None for k in g.knees) + (g.error is not None),
                 "grades": [k.result.kl_grade if k.result else None for k in g.knees],
                 "sides": [k.knee.laterality for k in g.knees],
                 "side_sources": [k.knee.laterality_source for k in g.knees]} for g in original]
    sources = Counter(str(k.knee.laterality_source) for g in original for k in g.knees)
    detail = {"as given": {**s, "side_sources": dict(sources.most_common()), "pairs": int(len(offsets)), "pairs_beyond_max_offset": int((offsets > PAIR_MAX_ROW_OFFSET).sum()),
                           "pair_offset_median": round(float(np.median(offsets)), 4)}}
    for name in args.changes:
        change = FILM_CHANGES[name]
        changed = [change.make(r) for r in base]
        graded, secs = _graded(changed)
        same_count = same_grade = both = flipped = compared = same_side = 0
        box_offsets = []
        for a, b, new in zip(original, graded, changed):
            if a.error is not None or b.error is not None or len(a.knees) != len(b.knees):
                continue
            same_count += 1
            for ka, kb in zip(a.knees, b.knees[::-1] if change.mirrors else b.knees):
                compared += 1
                same_side += ka.knee.laterality == kb.knee.laterality
                flipped += (ka.result is None) != (kb.result is None)
                if ka.result is not None and kb.result is not None:
                    both += 1
                    same_grade += ka.result.kl_grade == kb.result.kl_grade
                ba, bb = ka.knee.box, kb.knee.box
                r, c = change.centre_back(bb.top, bb.left, bb.height, new.pixels.shape)
                box_offsets.append(float(np.hypot(r - (ba.top + ba.height / 2), c - (ba.left + ba.width / 2)) / ba.height))
        cs = _summary(graded)
        bo = np.array(box_offsets or [np.nan])
        rows.append({"run": name, "films": len(files), "knees": cs["knees"], "refused": cs["refused"],
                     "s_per_film": round(secs / n, 3), "same_knee_count": round(same_count / n, 4),
                     "same_grade": round(same_grade / max(both, 1), 4),
                     "box_offset_p50": round(float(np.nanmedian(bo)), 4), "box_offset_p90": round(float(np.nanpercentile(bo, 90)), 4),
                     "refused_changed": round(flipped / max(compared, 1), 4),
                     "same_side": round(same_side / max(compared, 1), 4)})
        detail[name] = cs
    if args.per_film:
        for f in per_film:
            print(f"{f['film']:<14} knees {f['knees']}  refused {f['refused']}  sides {f['sides']}  KL {f['grades']}")
        print()
    return {"rows": rows, "detail": detail, "per_film": per_film, "data": str(folder)}
