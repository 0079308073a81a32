"""``python -m kneeai pacs find|grade|batch``: a hospital PACS over DICOMweb.

The PACS is ``KNEEAI_PACS_URL`` (its DICOMweb root) with ``KNEEAI_PACS_USER`` and
``KNEEAI_PACS_PASSWORD``, or ``--url`` / ``--user`` (the password only from the environment).

- ``find [--date 20260101-20260131] [--modality DX] [--body-part KNEE] [--accession A1] [--json]
  [--identifiers]``: one study per line; the patient's identity only with ``--identifiers``.
- ``grade STUDY_UID [--push] [--json]``: every knee film of the study through the same pipeline
  as ``grade``; one JSON object per knee as ``grade --json`` prints it (``path`` is the film's
  WADO-RS path) plus ``study_uid``, ``series_uid``, ``sop_instance_uid`` and, with ``--push``,
  ``stored: {"sr", "overlay"}``: the SOP Instance UIDs of the structured report and the
  secondary-capture overlay stored in the study. Exits 1 if any film or knee failed.
- ``batch [find's filters] [--push] [--json]``: ``grade`` for every study that ``find`` returns,
  with a progress bar on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_parser", "run", "add_connection", "add_filters", "client_from_args", "query_from_args"]


def add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="DICOMweb root (default KNEEAI_PACS_URL)")
    p.add_argument("--user", help="HTTP user (default KNEEAI_PACS_USER; the password comes from KNEEAI_PACS_PASSWORD)")


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", default="", help="StudyDate: YYYYMMDD, or a range YYYYMMDD-YYYYMMDD")
    p.add_argument("--modality", default="", help="e.g. DX, CR")
    p.add_argument("--body-part", default="", help="BodyPartExamined, e.g. KNEE")
    p.add_argument("--accession", default="", help="AccessionNumber")
    p.add_argument("--limit", type=int, default=200)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("pacs", help="find, grade and store back studies in a PACS (DICOMweb)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="pacs_action", required=True)
    f = actions.add_parser("find", help="search studies (QIDO-RS)")
    add_connection(f)
    add_filters(f)
    f.add_argument("--json", action="store_true")
    f.add_argument("--identifiers", action="store_true", help="also print the PACS's patient name and ID")
    g = actions.add_parser("grade", help="grade every knee film of one study")
    add_connection(g)
    g.add_argument("study_uid")
    g.add_argument("--push", action="store_true", help="store the SR and the overlay in the study (STOW-RS)")
    g.add_argument("--json", action="store_true")
    g.add_argument("--as", dest="kind", choices=("auto", "crop", "film"), default="auto")
    b = actions.add_parser("batch", help="grade every knee film of every study found")
    add_connection(b)
    add_filters(b)
    b.add_argument("--push", action="store_true")
    b.add_argument("--json", action="store_true")
    b.add_argument("--as", dest="kind", choices=("auto", "crop", "film"), default="auto")
    return p


def client_from_args(args: argparse.Namespace):
    import os

    from kneeai.pacs.client import connect

    return connect(args.url, args.user, os.environ.get("KNEEAI_PACS_PASSWORD") if args.user else None)


def query_from_args(args: argparse.Namespace):
    from kneeai.pacs.query import StudyQuery

    return StudyQuery(date=args.date, modality=args.modality, body_part=args.body_part, accession=args.accession,
                      limit=args.limit)


def _text(rec: dict) -> str:
    where = f"{rec['study_uid']}\t{rec['sop_instance_uid']}"
    if "error" in rec:
        return f"{where}\t{rec['error']}"
    knee = f"#{rec['knee']['index']} {rec['knee']['laterality'] or '?'}"
    line = f"{where}\t{knee}\tKL {rec['kl_grade']}\tE={rec['expected_grade']:.2f}"
    if "stored" in rec:
        line += f"\tSR {rec['stored']['sr']}\toverlay {rec['stored']['overlay']}"
    return line


def _grade_one(client, study_uid: str, args: argparse.Namespace, grader) -> int:
    from kneeai.errors import KneeAIError
    from kneeai.pacs.grade import film_records, grade_study, store_results

    failed = 0
    try:
        films = grade_study(client, study_uid, kind=args.kind, grader=grader)
    except KneeAIError as exc:
        rec = {"study_uid": study_uid, "error": exc.message(args.lang)}
        print(json.dumps(rec, ensure_ascii=False) if args.json else f"{study_uid}\t{rec['error']}", flush=True)
        return 1
    for film in films:
        stored = None
        error = None
        if args.push and film.graded:
            try:
                stored = store_results(client, film, grader=grader)
            except KneeAIError as exc:
                error = exc.message(args.lang)
        lines = film_records(film, args.lang, stored)
        if error:
            for rec in lines:
                rec["store_error"] = error
        failed += any("error" in rec or "store_error" in rec for rec in lines)
        for rec in lines:
            print(json.dumps(rec, ensure_ascii=False) if args.json else _text(rec), flush=True)
    return failed


def run(args: argparse.Namespace) -> int:
    from kneeai.pacs.query import find_studies

    client = client_from_args(args)
    if args.pacs_action == "find":
        for s in find_studies(client, query_from_args(args)):
            rec = s.record(with_identifiers=args.identifiers)
            fields = (rec["date"], rec["accession"], rec["description"], ",".join(rec["modalities"]), rec["study_uid"])
            print(json.dumps(rec, ensure_ascii=False) if args.json else "\t".join(fields))
        return 0
    from kneeai.grading.weights import load_grader

    grader = load_grader()
    if args.pacs_action == "grade":
        return 1 if _grade_one(client, args.study_uid, args, grader) else 0
    from tqdm import tqdm

    studies = find_studies(client, query_from_args(args))
    failed = 0
    for s in tqdm(studies, desc="studies", unit="study", file=sys.stderr, disable=len(studies) < 2):
        failed += _grade_one(client, s.study_uid, args, grader)
    return 1 if failed else 0
