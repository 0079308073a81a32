"""``python -m kneeai batch``: grade a whole archive, or make a report bundle of a folder.

Archive (``--out DIR``): every knee of every file of the folder trees (or of ``--list FILE``, one
path per line), one row each, streamed to ``DIR/results.csv`` and ``DIR/results.parquet/`` as it
goes, with a progress bar and a summary of refusals by reason. A re-run with the same options
skips what is done (``DIR/manifest.jsonl``); ``--restart`` starts over. Memory stays bounded
whatever the archive's size. ``--ray`` runs the same work as Ray tasks on a Ray started for the
run; ``--ray-address HOST:PORT`` (or ``auto``) joins an existing cluster. Rows name no file
unless ``--include-file-names``; the manifest, which does, stays in ``DIR``.

``--pacs`` adds every knee film of every study that the PACS query finds (the filters of
``pacs find``: ``--date``, ``--modality``, ``--body-part``, ``--accession``, ``--limit``; the PACS is
``KNEEAI_PACS_URL`` or ``--url``, as for ``pacs``). Its rows' source is the film's WADO-RS path
(``dicomweb:studies/.../instances/...``), so a re-run of the same query skips what is done and
grades only new films. Ray workers pull from the PACS of their own environment.

Report bundle (``--zip OUT.zip``): a PDF summary and a table row per knee, with TKR risk from
``--clinical CSV`` (keyed by file name: file, age, sex, bmi, womac_pain).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kneeai.i18n import t

__all__ = ["add_parser", "run", "read_list"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="grade an archive (CSV + Parquet, resumable) or make a report bundle",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (searched recursively)")
    p.add_argument("--list", type=Path, dest="list_file", help="a text file of paths, one per line")
    p.add_argument("--out", type=Path, help="archive mode: the output folder")
    p.add_argument("--as", dest="kind", choices=("auto", "crop", "film"), default="auto")
    p.add_argument("--allow-outside-use", action="store_true")
    p.add_argument("--restart", action="store_true", help="archive mode: discard an earlier run's outputs in --out")
    p.add_argument("--ray", action="store_true", help="archive mode: run as Ray tasks on a Ray started for the run")
    p.add_argument("--ray-address", help="archive mode: join this Ray cluster (HOST:PORT or 'auto')")
    p.add_argument("--workers", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("--clinical", type=Path, help="bundle mode: CSV of clinical variables keyed by file name")
    p.add_argument("--csv", type=Path, default=Path("kneeai_batch.csv"), dest="out_csv", help="bundle mode: the table")
    p.add_argument("--zip", type=Path, dest="out_zip", help="bundle mode: the ZIP of PDFs")
    p.add_argument("--lang", choices=("en", "zh"), dest="batch_lang", help="language of the outputs (default: the global --lang)")
    p.add_argument("--include-file-names", action="store_true", help="add a 'file' column (file names can identify patients)")
    p.add_argument("--no-heatmap", action="store_true", help="bundle mode: skip the explanations (faster)")
    p.add_argument("--confirm-burned-in", action="store_true",
                   help="bundle mode: also make PDFs of films that say identifying text is burned into their pixels")
    from kneeai.cli.pacs import add_connection, add_filters

    pacs = p.add_argument_group("PACS (archive mode)")
    pacs.add_argument("--pacs", action="store_true", help="also grade the knee films of the studies the PACS query finds")
    add_connection(pacs)
    add_filters(pacs)
    return p


def read_list(path: Path) -> list[Path]:
    """Paths from a list file: one per line; blank lines and ``#`` comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Path(s.strip()) for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _inputs(args: argparse.Namespace) -> list[Path]:
    from kneeai.cli.grade import iter_inputs

    paths = list(args.paths) + (read_list(args.list_file) if args.list_file else [])
    return list(iter_inputs(paths))


def run(args: argparse.Namespace) -> int:
    lang = args.batch_lang or args.lang
    args.lang = lang
    if args.out is not None:
        return _archive(args, lang)
    if args.out_zip is None:
        print(t("cli.batch.need_out", lang), file=sys.stderr)
        return 2
    return _bundle(args, lang)


def _archive(args: argparse.Namespace, lang: str) -> int:
    from tqdm import tqdm

    from kneeai.archive import run_archive
    from kneeai.archive.output import CSV_NAME, PARQUET_DIR

    files: list = [str(f) for f in _inputs(args)]
    reader = None
    if args.pacs:
        import os

        from kneeai.cli.pacs import client_from_args, query_from_args
        from kneeai.pacs.query import archive_sources, read_source

        if args.url:  # the tasks (Ray workers too) connect from the environment
            os.environ["KNEEAI_PACS_URL"] = args.url
        if args.user:
            os.environ["KNEEAI_PACS_USER"] = args.user
        files += archive_sources(client_from_args(args), query_from_args(args))
        reader = read_source
    if not files:
        print(t("cli.batch.nothing", lang), file=sys.stderr)
        return 2
    address = args.ray_address or ("local" if args.ray else None)
    with tqdm(total=len(files), desc=t("cli.batch.progress", lang), unit="file", file=sys.stderr) as bar:
        s = run_archive(files, args.out, lang=lang, kind=args.kind, allow_outside_use=args.allow_outside_use,
                        include_file_names=args.include_file_names, restart=args.restart, ray_address=address,
                        workers=args.workers, progress=bar.update, reader=reader)
    print(t("cli.batch.archive_done", lang, files=s.files, skipped=s.skipped, knees=s.knees, graded=s.graded_knees,
            seconds=f"{s.seconds:.1f}", rate=f"{s.knees_per_second:.1f}", csv=str(args.out / CSV_NAME),
            parquet=str(args.out / PARQUET_DIR)))
    for reason, n in sorted(s.refusals.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {_reason_text(reason, lang)}  [{reason}]")
    return 0


def _reason_text(key: str, lang: str) -> str:
    try:  # an intake message may need fields that a count by reason does not have
        return t(key, lang)
    except (KeyError, IndexError, ValueError):
        return key


def _bundle(args: argparse.Namespace, lang: str) -> int:
    from tqdm import tqdm

    from kneeai.archive.bundle import BatchItem, read_clinical_csv, run_batch

    files = _inputs(args)
    clinical = read_clinical_csv(args.clinical.read_text(encoding="utf-8")) if args.clinical else None
    bar = tqdm(total=len(files), desc=t("cli.batch.progress", lang), unit="img", file=sys.stderr)

    def step(done: int, total: int) -> None:
        bar.update(done - bar.n)

    result = run_batch([BatchItem(f.name, f) for f in files], clinical, lang=lang,
                       include_file_names=args.include_file_names, heatmap=not args.no_heatmap, progress=step,
                       confirm_burned_in=args.confirm_burned_in)
    bar.close()
    args.out_csv.write_text(result.csv_text, encoding="utf-8")
    args.out_zip.write_bytes(result.zip_bytes)
    print(t("cli.batch.done", lang, n=len(files), failed=result.n_failed, csv=str(args.out_csv), zip=str(args.out_zip)))
    return 1 if result.n_failed else 0
