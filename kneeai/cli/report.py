"""``python -m kneeai report IMAGE [--age A --sex F|M --bmi B --womac-pain P] [--lang en|zh]
[--pdf F] [--json F] [--fhir F]``: grade one knee, explain it, score its TKR risk, and export.

Without an output file the summary is printed. The patient is known by a fresh random pseudonym
(or ``--pseudonym``); DICOM identifiers reach the exports only with ``--include-identifiers``.
``--override GRADE --reason TEXT`` records a clinician's grade: it becomes the risk input and
every export marks it as an override.
"""
from __future__ import annotations

import argparse
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
    return p


def run(args: argparse.Namespace) -> int:
    from kneeai.grading.wording import grade_sentence
    from kneeai.io import load_radiograph
    from kneeai.report import fhir, json_export
    from kneeai.report.pdf import render_pdf
    from kneeai.report.summary import final_grade, summarize_radiograph
    from kneeai.store.registry import new_pseudonym, record_export, record_grading

    lang = args.report_lang or args.lang
    args.lang = lang  # errors raised below are printed in the report's language
    override = None
    if args.override is not None:
        if not (args.reason or "").strip():
            raise InvalidOverride(detail="--reason")
        override = (args.override, args.reason.strip())
    clinical = {"age": args.age, "sex": args.sex, "bmi": args.bmi, "womac_pain": args.womac_pain}
    rad = load_radiograph(args.image)
    summary = summarize_radiograph(rad, clinical, pseudonym=args.pseudonym or new_pseudonym(), visit_date=args.visit_date,
                                   override=override, include_identifiers=args.include_identifiers, lang=lang,
                                   explain_method=None if args.no_heatmap else "gradcam")
    if summary.grade is not None:
        record_grading(summary.grade, rad.sha256, subject="cli")
    outputs = []
    if args.pdf:
        outputs.append((args.pdf, "pdf", render_pdf(summary)))
    if args.json:
        outputs.append((args.json, "json", json_export.to_json(summary).encode("utf-8")))
    if args.fhir:
        outputs.append((args.fhir, "fhir", fhir.to_json(summary).encode("utf-8")))
    for path, fmt, data in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record_export(fmt, data, subject="cli", identifiers_included=bool(summary.identifiers))
        print(t("cli.report.wrote", lang, fmt=fmt.upper(), path=str(path)))
    if not outputs:
        g = summary.grade
        print(f"{t('report.pseudonym', lang)}: {summary.pseudonym}")
        if g is not None:
            print(grade_sentence(g, lang))
            if override:
                print(t("cli.report.override", lang, grade=final_grade(summary), model_grade=g.kl_grade))
        if summary.risk is not None:
            for m in summary.risk.models:
                risks = "  ".join(f"{h:g}y {100 * v[0]:.0f}%" for h, v in m.risk_at.items())
                tag = f" ({t('report.simulated_tag', lang)})" if m.simulated else ""
                print(f"TKR {m.model_name}{tag}: {risks}")
    return 0
