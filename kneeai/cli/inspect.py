"""``python -m kneeai inspect FILE [--json] [--show-identifiers]``: what intake read from a file.

Prints the format and transfer syntax, size, pixel spacing, laterality, the non-identifying
tags, warnings, pixel statistics and the file's SHA-256. Identifying tags (name, ID, dates, ...)
are only counted unless ``--show-identifiers`` is given. A file that cannot be read prints its
translated error and exits 1; with ``--json`` that is ``{"path", "error", "error_key"}``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kneeai.errors import KneeAIError
from kneeai.i18n import t
from kneeai.schemas import Radiograph

__all__ = ["add_parser", "run", "describe"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("inspect", help="show what KneeAI reads from an image or DICOM file", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--show-identifiers", action="store_true", help="also print identifying DICOM tags")
    # Also accepted after the command; SUPPRESS keeps the top-level --lang when it is not given here.
    p.add_argument("--lang", choices=("en", "zh"), default=argparse.SUPPRESS, help="language of messages")
    return p


def describe(rad: Radiograph, path: str, show_identifiers: bool = False) -> dict[str, Any]:
    """A JSON-ready summary of ``rad``; identifiers only when asked for."""
    px = rad.pixels
    record: dict[str, Any] = {
        "path": path,
        "source": rad.source,
        "shape": list(rad.shape),
        "spacing_mm": list(rad.spacing_mm) if rad.spacing_mm else None,
        "laterality": rad.laterality,
        "meta": dict(rad.meta),
        "warnings": list(rad.warnings),
        "stats": {k: round(float(v), 6) for k, v in
                  (("min", px.min()), ("mean", px.mean()), ("max", px.max()), ("std", px.std()))},
        "sha256": rad.sha256,
        "identifiers_count": len(rad.identifiers),
    }
    if show_identifiers:
        record["identifiers"] = dict(rad.identifiers)
    return record


def run(args: argparse.Namespace) -> int:
    from kneeai.io import load_radiograph

    lang = getattr(args, "lang", "en")
    try:
        rad = load_radiograph(args.file)
    except KneeAIError as exc:
        if args.json:
            print(json.dumps({"path": str(args.file), "error": exc.message(lang), "error_key": exc.key}, ensure_ascii=False))
            return 1
        raise  # the CLI prints it translated on stderr and exits 1
    record = describe(rad, str(args.file), args.show_identifiers)
    if args.json:
        record["warning_messages"] = [t(k, lang) for k in rad.warnings]
        print(json.dumps(record, ensure_ascii=False, indent=1))
    else:
        print(_human(record, lang))
    return 0


def _human(rec: dict[str, Any], lang: str) -> str:
    def line(key: str, value: str) -> str:
        return f"{t(key, lang)}: {value}"

    unknown = t("intake.inspect.unknown", lang)
    rows, cols = rec["shape"]
    spacing = (t("intake.inspect.spacing_value", lang, row=rec["spacing_mm"][0], col=rec["spacing_mm"][1])
               if rec["spacing_mm"] else unknown)
    lat = t(f"intake.inspect.laterality_{rec['laterality']}", lang) if rec["laterality"] else unknown
    out = [
        line("intake.inspect.file", rec["path"]),
        line("intake.inspect.format", rec["source"]),
        line("intake.inspect.size", t("intake.inspect.size_value", lang, rows=rows, cols=cols)),
        line("intake.inspect.spacing", spacing),
        line("intake.inspect.laterality", lat),
        line("intake.inspect.pixels", t("intake.inspect.pixels_value", lang, **rec["stats"])),
        line("intake.inspect.sha256", rec["sha256"]),
        f"{t('intake.inspect.warnings', lang)}:" if rec["warnings"] else line("intake.inspect.warnings", t("intake.inspect.none", lang)),
    ]
    out += [f"  - {t(k, lang)}" for k in rec["warnings"]]
    out.append(f"{t('intake.inspect.tags', lang)}:")
    out += [f"  {k}: {v}" for k, v in sorted(rec["meta"].items())]
    if "identifiers" in rec:
        out.append(f"{t('intake.inspect.identifiers', lang)}:")
        out += [f"  {k}: {v}" for k, v in sorted(rec["identifiers"].items())]
    elif rec["identifiers_count"]:
        out.append(t("intake.inspect.identifiers_hidden", lang, n=rec["identifiers_count"]))
    return "\n".join(out)
