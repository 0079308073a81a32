"""``python -m kneeai grade PATH [PATH ...] [--json]``: grade knee radiographs.

Folders are searched recursively. With ``--json`` each knee is one line:
``{"path", "kl_grade", "probabilities", "expected_grade", "uncertainty", "model"}``, or
``{"path", "error"}`` for a file that cannot be read or is rejected. It keeps going and exits 1
if any file failed. A full film with two knees gives one line per knee, the path suffixed with
``#R`` / ``#L`` (or ``#1``, ``#2`` when the side is unknown).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.schemas import GradeResult

__all__ = ["add_parser", "run", "iter_inputs", "result_record"]

SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ""}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("grade", help="grade knee radiographs (files or folders)", description=__doc__)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--allow-outside-use", action="store_true", help="grade images that fail the knee-radiograph check, marked outside validated use")
    return p


def iter_inputs(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in SUFFIXES and not q.name.startswith("."))
        else:
            yield p


def result_record(path: str, r: GradeResult) -> dict:
    rec = {
        "path": path,
        "kl_grade": r.kl_grade,
        "probabilities": [round(p, 6) for p in r.probabilities],
        "expected_grade": round(r.expected_grade, 6),
        "uncertainty": {k: round(v, 6) for k, v in r.uncertainty.items()},
        "model": {"id": r.model.model_id, "sha256": r.model.sha256, "placeholder": r.model.placeholder},
    }
    if r.outside_validated_use:
        rec["outside_validated_use"] = True
    return rec


def _grade_file(path: Path, allow: bool) -> list[tuple[str, GradeResult, str]]:
    """Grade every knee on the film at ``path``: (name, result, sha256 of the file)."""
    from kneeai.grading.predict import grade
    from kneeai.imaging.crop import crop_knee, is_single_knee
    from kneeai.io import load_radiograph

    rad = load_radiograph(path)
    if is_single_knee(rad):
        return [(str(path), grade(crop_knee(rad), allow_outside_use=allow, radiograph=rad), rad.sha256)]
    from kneeai.grading.centre import centred_knee_boxes

    out = []
    for i, (box, lat) in enumerate(centred_knee_boxes(rad), start=1):
        out.append((f"{path}#{lat or i}", grade(crop_knee(rad, box, lat), allow_outside_use=allow, radiograph=rad), rad.sha256))
    return out


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kneeai.store.registry import record_grading

    files = list(iter_inputs(args.paths))
    failed = 0
    for path in tqdm(files, desc="grading", unit="file", file=sys.stderr, disable=len(files) < 2):
        try:
            results = _grade_file(path, args.allow_outside_use)
        except KneeAIError as exc:
            failed += 1
            msg = exc.message(args.lang)
            print(json.dumps({"path": str(path), "error": msg}, ensure_ascii=False) if args.json else f"{path}\t{t('cli.error', args.lang)}: {msg}", flush=True)
            continue
        for name, r, sha in results:
            record_grading(r, sha)
            if args.json:
                print(json.dumps(result_record(name, r), ensure_ascii=False), flush=True)
            else:
                probs = " ".join(f"{p:.2f}" for p in r.probabilities)
                flag = "  [" + t("cli.placeholder", args.lang) + "]" if r.model.placeholder else ""
                print(f"{name}\tKL {r.kl_grade}\tE={r.expected_grade:.2f}\tp=[{probs}]{flag}", flush=True)
    return 1 if failed else 0
