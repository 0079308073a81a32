"""The command line: ``python -m kneeai <command> ...``.

Each command lives in ``kneeai/cli/<command>.py`` with ``add_parser(subparsers)`` and ``run(args)``.
Errors of our own types are printed as one translated line (no traceback) and exit with 1.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from kneeai.errors import KneeAIError

COMMANDS = ("inspect", "grade", "report", "survival", "db", "batch", "pacs", "users")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kneeai", description="KneeAI command line (research and education only; not a medical device).")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"kneeai.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kneeai.cli.{name}":
                continue
            raise
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KneeAIError as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`python -m kneeai grade ... | head`): stop quietly, as Unix tools do.
        # stdout is pointed at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


if __name__ == "__main__":
    raise SystemExit(main())
