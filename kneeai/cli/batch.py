"""``python -m kneeai batch FOLDER [--clinical CSV] [--csv OUT.csv] [--zip OUT.zip]``: grade and
risk-score every image in a folder.

The clinical CSV is keyed by file name (column ``file``) with columns age, sex, bmi, womac_pain.
The result table has one row per image, in file-name order, under a fresh pseudonym each; file
names enter it only with ``--include-file-names``. A progress bar runs on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kneeai.i18n import t

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="grade a folder of images: CSV table + ZIP of PDFs", description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--clinical", type=Path, help="CSV of clinical variables keyed by file name")
    p.add_argument("--csv", type=Path, default=Path("kneeai_batch.csv"), dest="out_csv")
    p.add_argument("--zip", type=Path, default=Path("kneeai_batch_pdfs.zip"), dest="out_zip")
    p.add_argument("--lang", choices=("en", "zh"), dest="batch_lang", help="language of the PDFs (default: the global --lang)")
    p.add_argument("--include-file-names", action="store_true", help="add a 'file' column (file names can identify patients)")
    p.add_argument("--no-heatmap", action="store_true", help="skip the explanations (faster)")
    return p


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kneeai.cli.grade import iter_inputs
    from kneeai.report.batch import BatchItem, read_clinical_csv, run_batch

    lang = args.batch_lang or args.lang
    args.lang = lang
    files = list(iter_inputs([args.folder]))
    clinical = read_clinical_csv(args.clinical.read_text(encoding="utf-8")) if args.clinical else None
    bar = tqdm(total=len(files), desc=t("cli.batch.progress", lang), unit="img", file=sys.stderr)

    def step(done: int, total: int) -> None:
        bar.update(done - bar.n)

    result = run_batch([BatchItem(f.name, f.read_bytes()) for f in files], clinical, lang=lang,
                       include_file_names=args.include_file_names, heatmap=not args.no_heatmap, progress=step)
    bar.close()
    args.out_csv.write_text(result.csv_text, encoding="utf-8")
    args.out_zip.write_bytes(result.zip_bytes)
    print(t("cli.batch.done", lang, n=len(files), failed=result.n_failed, csv=str(args.out_csv), zip=str(args.out_zip)))
    return 1 if result.n_failed else 0
