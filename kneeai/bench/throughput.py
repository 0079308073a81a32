"""End-to-end throughput of the command line: knees (and films) per second, start-up included.

Each row runs a real command in a fresh process and times it from start to exit: ``python -m
kneeai grade PATH --json`` (decode, crop, gate, grade, audit), then ``python -m kneeai batch PATH
--out DIR`` locally and with ``--ray`` (a local Ray started for the run). Targets on 2 cores:
>= TARGET_CROPS_PER_S knee crops a second over a folder of crops and >= TARGET_FILMS_PER_S whole
bilateral films a second.

    python -m kneeai.bench throughput --crops CROPS_DIR --films FILMS_DIR [--ray] [--out FILE.json]

``--crops`` defaults to the knee-kl val and train/0 folders (1656 knees, the size of the
dataset's test split); ``--films`` to knee-films-dev.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kneeai.config import REPO_ROOT
from kneeai.grading.dataset import SPLIT_KNEES

__all__ = ["add_arguments", "run", "TARGET_CROPS_PER_S", "TARGET_FILMS_PER_S"]

TARGET_CROPS_PER_S = 30.0
TARGET_FILMS_PER_S = 2.0
DATA = REPO_ROOT.parent / "shared" / "data"
# As many crops as the dataset's test split, the size of set the grader is judged on.
N_CROPS = SPLIT_KNEES["test"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crops", type=Path, nargs="+", default=None, help="folders or files of knee crops")
    p.add_argument("--films", type=Path, nargs="+", default=[DATA / "knee-films-dev" / "films"])
    p.add_argument("--ray", action="store_true", help="also time the archive run on a local Ray")
    p.add_argument("--skip-batch", action="store_true", help="time `grade` only")


def _default_crops(tmp: Path) -> list[Path]:
    """N_CROPS crops: all of val and the first of train/0, linked into one folder tree."""
    src = DATA / "knee-kl"
    if not src.exists():
        raise SystemExit(f"no --crops given and {src} is missing")
    files = sorted(p for p in (src / "val").rglob("*") if p.is_file())
    files += sorted(p for p in (src / "train" / "0").iterdir() if p.is_file())[: N_CROPS - len(files)]
    out = tmp / "crops"
    for i, f in enumerate(files):
        d = out / f"{i // 500:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:05d}{f.suffix}").symlink_to(f)
    return [out]


def _timed(cmd: list[str], tmp: Path) -> tuple[float, subprocess.CompletedProcess]:
    import os

    # The audit events of a benchmark go to a registry of its own, not the user's.
    env = {**os.environ, "KNEEAI_DB": str(tmp / "bench.db"), "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    return time.perf_counter() - t, proc


def _grade(paths: list[Path], tmp: Path) -> tuple[float, int, int, dict[str, int]]:
    cmd = [sys.executable, "-m", "kneeai", "grade", *map(str, paths), "--json"]
    seconds, proc = _timed(cmd, tmp)
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.strip()]
    files = len({r["path"] for r in lines})
    knees = sum("knee" in r for r in lines)
    grades: dict[str, int] = {}
    for r in lines:
        if "kl_grade" in r:
            grades[f"{r['path']}#{r['knee']['index']}"] = r["kl_grade"]
    return seconds, files, knees, grades


def _batch(paths: list[Path], tmp: Path, ray: bool) -> tuple[float, int, int, dict[str, int]]:
    import pandas as pd

    out = tmp / ("ray" if ray else "local")
    cmd = [sys.executable, "-m", "kneeai", "batch", *map(str, paths), "--out", str(out), "--include-file-names"]
    if ray:
        cmd.append("--ray")
    seconds, proc = _timed(cmd, tmp)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    df = pd.read_csv(out / "results.csv")
    graded = df[df["kl_grade"].notna()]
    grades = {f"{f}#{int(k)}": int(g) for f, k, g in zip(graded["file"], graded["knee"], graded["kl_grade"])}
    return seconds, df["item"].nunique(), int(df["knee"].notna().sum()), grades


def _row(what: str, command: str, seconds: float, files: int, knees: int, target: float | None, per: str) -> dict[str, Any]:
    rate = (knees if per == "knees" else files) / seconds if seconds else 0.0
    return {"inputs": what, "command": command, "files": files, "knees": knees, "seconds": seconds,
            "rate": rate, "unit": f"{per}/s", "target": f">= {target:g}" if target else "",
            "meets": (rate >= target) if target else ""}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    agree: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kneeai-bench-") as tmpdir:
        tmp = Path(tmpdir)
        crops = args.crops or _default_crops(tmp)
        sets = [("knee crops", crops, TARGET_CROPS_PER_S, "knees"), ("whole films", args.films, TARGET_FILMS_PER_S, "films")]
        for what, paths, target, per in sets:
            s, f, k, ref = _grade(paths, tmp)
            rows.append(_row(what, "grade --json", s, f, k, target, per))
            runs = [] if args.skip_batch else [("batch --out", False)] + ([("batch --out --ray", True)] if args.ray else [])
            for name, ray in runs:
                s, f, k, grades = _batch(paths, tmp / what.replace(" ", "_"), ray)
                rows.append(_row(what, name, s, f, k, target, per))
                same = sum(grades.get(key) == g for key, g in ref.items())
                agree[f"{what}: {name} vs grade"] = {"knees": len(ref), "same_grade": same}
    return {"rows": rows, "agreement": agree}
