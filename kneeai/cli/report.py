"""``python -m kneeai report IMAGE [--age A --sex F|M --bmi B --womac-pain P] [--lang en|zh]
[--pdf F] [--json F] [--fhir F] [--knee N]``: grade every knee of a film, explain it, score its
TKR risk, and export.

A film with two knees gives two reports: ``out.pdf`` becomes ``out_knee1_R.pdf`` and
``out_knee2_L.pdf`` (index from the viewer's left, then the side where known), and likewise for
JSON and FHIR; ``--knee N`` reports knee N alone, under the names given. A refused knee is
reported as such and the others go on. Without an output file the summaries are printed. The patient is known by a fresh random pseudonym
(or ``--pseudonym``); DICOM identifiers reach the exports only with ``--include-identifiers``.
``--override GRADE --reason TEXT`` records a clinician's grade: it becomes the risk input and
every export marks it as an override.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from kneeai.errors import InvalidOverride
from kneeai.i18n import t

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="grade one knee and export PDF / JSON / FHIR", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", type=Path)
    p.add_argument("--age", type=float)
    p.add_argument("--sex", choices=("F", "M", "f", "m"))
    p.add_argument("--bmi", type=float)
    p.add_argument("--womac-pain", type=float, dest="womac_pain", help="WOMAC pain, 0-20")
    p.add_argument("--lang", choices=("en", "zh"), dest="report_lang", help="language of the report (default: the global --lang)")
    p.add_argument("--pdf", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--fhir", type=Path)
    p.add_argument("--pseudonym", help="the patient's registry pseudonym (default: a fresh random one)")
    p.add_argument("--visit-date", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    p.add_argument("--override", type=int, choices=range(5), metavar="KL", help="the clinician's KL grade")
    p.add_argument("--reason", help="why the clinician's grade differs (required with --override)")
    p.add_argument("--include-identifiers", action="store_true", help="put the DICOM patient identifiers into the exports")
    p.add_argument("--no-heatmap", action="store_true", help="skip the explanation (faster)")
    p.add_argument("--knee", type=int, help="report only this knee of a film (1, 2 from the viewer's left)")
    p.add_argument("--as", dest="kind", choices=("auto", "crop", "film"), default="auto")
    p.add_argument("--confirm-burned-in", action="store_true",
                   help="write the PDF (it shows the knee) even when the film says identifying text is burned into its pixels")
    return p


def knee_path(path: Path, knee, several: bool) -> Path:
    """``path`` for one knee's report: as given for a single knee, else with the knee in its name."""
    if not several:
        return path
    side = f"_{knee.laterality}" if knee.laterality else ""
    return path.with_name(f"{path.stem}_knee{knee.index}{side}{path.suffix}")


def run(args: argparse.Namespace) -> int:
    from kneeai.errors import BurnedInAnnotation, KneeAIError
    from kneeai.grading.wording import grade_sentence
    from kneeai.io import has_burned_in_annotation, load_radiograph
    from kneeai.pipeline import Audit, summarize_film
    from kneeai.report import fhir, json_export
    from kneeai.report.pdf import render_pdf
    from kneeai.report.summary import final_grade
    from kneeai.store.registry import new_pseudonym
    from kneeai.store.trail import record_export

    lang = args.report_lang or args.lang
    args.lang = lang  # errors raised below are printed in the report's language
    override = None
    if args.override is not None:
        if not (args.reason or "").strip():
            raise InvalidOverride(detail="--reason")
        override = (args.override, args.reason.strip())
    clinical = {"age": args.age, "sex": args.sex, "bmi": args.bmi, "womac_pain": args.womac_pain}
    rad = load_radiograph(args.image)
    knees = summarize_film(rad, clinical, pseudonym=args.pseudonym or new_pseudonym(), visit_date=args.visit_date,
                           override=override, override_knee=args.knee, include_identifiers=args.include_identifiers,
                           lang=lang, explain_method=None if args.no_heatmap else "gradcam", kind=args.kind,
                           audit=Audit(subject="cli"))
    if args.knee is not None:
        knees = [k for k in knees if k.knee.index == args.knee]
        if not knees:
            raise KneeAIError("error.report_no_such_knee", knee=args.knee)
    if override is not None and len(knees) > 1:
        raise KneeAIError("error.report_override_which_knee", n=len(knees))
    accepted = [k for k in knees if k.summary is not None]
    if not accepted:
        raise knees[0].error
    several = len(knees) > 1
    refused = False
    for k in knees:
        where = f"#{k.knee.index} {k.knee.laterality or '?'}: " if several else ""
        if k.error is not None:
            print(where + k.error.message(lang))
            continue
        summary = k.summary
        outputs = []
        if args.pdf:
            try:
                pdf = render_pdf(summary, burned_in_annotation=has_burned_in_annotation(rad),
                                 confirm_burned_in=args.confirm_burned_in)
            except BurnedInAnnotation:
                print(where + t("cli.report.burned_in", lang), file=sys.stderr)
                refused = True
            else:
                outputs.append((knee_path(args.pdf, k.knee, several), "pdf", pdf))
        if args.json:
            outputs.append((knee_path(args.json, k.knee, several), "json", json_export.to_json(summary).encode("utf-8")))
        if args.fhir:
            outputs.append((knee_path(args.fhir, k.knee, several), "fhir", fhir.to_json(summary).encode("utf-8")))
        for path, fmt, data in outputs:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            record_export(fmt, data, subject="cli", identifiers_included=bool(summary.identifiers))
            print(where + t("cli.report.wrote", lang, fmt=fmt.upper(), path=str(path)))
        if not outputs and not (args.pdf or args.json or args.fhir):
            g = summary.grade
            print(f"{where}{t('report.pseudonym', lang)}: {summary.pseudonym}")
            print(grade_sentence(g, lang))
            if summary.override_grade is not None:
                print(t("cli.report.override", lang, grade=final_grade(summary), model_grade=g.kl_grade))
            if summary.risk is not None:
                for m in summary.risk.models:
                    risks = "  ".join(f"{h:g}y {100 * v[0]:.0f}%" for h, v in m.risk_at.items())
                    tag = f" ({t('report.simulated_tag', lang)})" if m.simulated else ""
                    print(f"TKR {m.model_name}{tag}: {risks}")
    return 1 if refused else 0
