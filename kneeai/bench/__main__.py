"""``python -m kneeai.bench {intake,grade,centre,films,crops,robustness,survival,throughput} [--out FILE.json]``."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from kneeai.bench import report

BENCHMARKS = ("intake", "grade", "centre", "films", "crops", "robustness", "survival", "throughput")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.bench")
    sub = ap.add_subparsers(dest="name", required=True)
    for name in BENCHMARKS:
        try:
            mod = importlib.import_module(f"kneeai.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kneeai.bench.{name}":
                continue
            raise
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().split("\n")[0])
        p.add_argument("--out", type=Path, default=None, help="JSON output (default bench-<name>.json)")
        mod.add_arguments(p)
        p.set_defaults(_mod=mod)
    args = ap.parse_args(argv)
    result = args._mod.run(args)
    report(args.name, result["rows"], args.out, {k: v for k, v in result.items() if k != "rows"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
