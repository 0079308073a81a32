"""Intake speed: load_radiograph on a full-size 12-bit DICOM film in each transfer syntax.

The film is the corpus knee (tests/dicom_corpus.py) resized to ROWS x COLS with mild detector
noise, stored 12 bits in 16 (the JPEG baseline row stores 8 bits, all that codec carries). Each
file is encoded once, then decoded ``--repeats`` times from bytes in memory after one warm-up, so
the timings cover parsing, decompression, the grey-level pipeline and hashing, not the disk.
Target: under TARGET_S seconds per film, so an upload feels immediate.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from types import ModuleType
from typing import Any

import numpy as np

from kneeai.config import REPO_ROOT

__all__ = ["add_arguments", "run", "CODECS", "TARGET_S"]

TARGET_S = 0.5
CODECS = ("explicit_le", "deflated", "rle", "jpeg_lossless_sv1", "jpegls_lossless", "j2k_lossless", "jpeg_baseline_8bit")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=2500)
    p.add_argument("--cols", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7, help="timed decodes per codec (after one warm-up)")
    p.add_argument("--codecs", nargs="+", default=list(CODECS), choices=list(CODECS) + ["implicit_le", "j2k_lossy", "jpegls_near_lossless"])


def _corpus() -> ModuleType:
    """The corpus builder lives with the tests; load it by path so no other 'tests' package wins."""
    path = REPO_ROOT / "tests" / "dicom_corpus.py"
    if not path.exists():
        raise SystemExit(f"the intake bench needs {path} (a source checkout)")
    spec = importlib.util.spec_from_file_location("kneeai_bench_dicom_corpus", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kneeai.io import load_radiograph

    load_before = _load()
    corpus = _corpus()
    ref = corpus.reference_knee(args.rows, args.cols, bits=12, noise=8.0)
    base = corpus.base_dataset(ref)
    expected = corpus.minmax(ref)
    rows = []
    for codec in args.codecs:
        data = corpus.encode(base, codec)
        rad = load_radiograph(data)  # warm-up, and a check that the bench decodes what it should
        lossless = corpus.CODECS[codec][1]
        err = float(np.abs(rad.pixels - expected).max()) if lossless else None
        if lossless and err > 1e-5:
            raise RuntimeError(f"{codec}: decoded film differs from the reference (max abs {err})")
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            load_radiograph(data)
            times.append(time.perf_counter() - t0)
        median = float(np.median(times))
        rows.append({
            "codec": codec,
            "median_s": round(median, 4),
            "p95_s": round(float(np.percentile(times, 95)), 4),
            "min_s": round(min(times), 4),
            "repeats": args.repeats,
            "MB": round(len(data) / 1e6, 2),
            "lossless": lossless,
            "meets_target": median < TARGET_S,
        })
    # Decoding is CPU-bound (JPEG 2000 on every core, the rest on one): a busy machine (say, a model training) slows
    # it down, so the load is kept with the numbers.
    return {"rows": rows, "target_s": TARGET_S, "shape": [args.rows, args.cols], "bits_stored": 12,
            "load_average_1m": [round(load_before, 2), round(_load(), 2)]}


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows
        return float("nan")
