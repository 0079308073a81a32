"""``python -m kneeai grade PATH [PATH ...] [--json] [--as auto|crop|film]``: grade knee radiographs.

Folders are searched recursively. With ``--json`` each knee is one line (scripts rely on it):
``{"path", "knee": {"index", "laterality", "laterality_source", "box"}, "kl_grade",
"probabilities", "expected_grade", "uncertainty", "model"}``. ``path`` is the file's path exactly
as given; ``knee.index`` counts 1, 2 from the viewer's left and ``knee.box`` is ``[x0, y0, x1,
y1]`` in the film's pixels; ``knee.inverted`` is present, and true, when the image was a negative (bone
dark) that was turned back before grading. A file that yields no gradable knee prints one ``{"path", "error"}``
line; on a film where one knee is refused and another graded, the refused one is
``{"path", "knee", "error"}``. It keeps going and exits 1 if any file or knee failed.

Files are decoded and cropped ahead of the network in a small thread pool, and knees of many
files share a batch (:func:`kneeai.pipeline.iter_graded`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

from kneeai.i18n import t
from kneeai.io.sniff import IMAGE_SUFFIXES

__all__ = ["add_parser", "run", "iter_inputs", "file_lines"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("grade", help="grade knee radiographs (files or folders)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--as", dest="kind", choices=("auto", "crop", "film"), default="auto",
                   help="take each image as one knee crop, search it as a film, or decide from its shape (default)")
    p.add_argument("--allow-outside-use", action="store_true", help="grade images that fail the knee-radiograph check, marked outside validated use")
    return p


def iter_inputs(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith("."))
        else:
            yield p


def file_lines(graded, lang: str) -> list[dict]:
    """The JSON records of one :class:`~kneeai.pipeline.GradedFile`, as ``grade --json`` prints them."""
    from kneeai.pipeline import knee_record

    if graded.error is not None:
        return [{"path": graded.path, "error": graded.error.message(lang)}]
    accepted = [k for k in graded.knees if k.error is None]
    if not accepted:  # no gradable knee: one line, the first knee's reason
        return [{"path": graded.path, "error": graded.knees[0].error.message(lang)}]
    return [knee_record(graded.path, k, lang) for k in graded.knees]


def _text_line(rec: dict, lang: str) -> str:
    knee = rec.get("knee")
    where = f"{rec['path']}\t#{knee['index']} {knee['laterality'] or '?'}" if knee else rec["path"]
    if "error" in rec:
        return f"{where}\t{t('cli.error', lang)}: {rec['error']}"
    probs = " ".join(f"{p:.2f}" for p in rec["probabilities"])
    flag = "  [" + t("cli.placeholder", lang) + "]" if rec["model"]["placeholder"] else ""
    return f"{where}\tKL {rec['kl_grade']}\tE={rec['expected_grade']:.2f}\tp=[{probs}]{flag}"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kneeai.pipeline import Audit, iter_graded

    files = list(iter_inputs(args.paths))
    failed = 0
    with tqdm(total=len(files), desc="grading", unit="file", file=sys.stderr, disable=len(files) < 2) as bar:
        for graded in iter_graded(files, kind=args.kind, allow_outside_use=args.allow_outside_use, audit=Audit()):
            bar.update(1)
            lines = file_lines(graded, args.lang)
            failed += any("error" in rec for rec in lines)
            for rec in lines:
                print(json.dumps(rec, ensure_ascii=False) if args.json else _text_line(rec, args.lang), flush=True)
    return 1 if failed else 0
