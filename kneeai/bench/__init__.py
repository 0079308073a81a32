"""Benchmarks: ``python -m kneeai.bench <name>`` prints a table and writes JSON.

Each benchmark lives in ``kneeai/bench/<name>.py`` with ``add_arguments(parser)`` and
``run(args) -> dict``; :func:`report` prints and saves the result.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

__all__ = ["report", "machine"]


def machine() -> dict[str, Any]:
    import os

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "platform": platform.platform(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}


def report(name: str, rows: list[dict[str, Any]], out: Path | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Print ``rows`` as an aligned table and write ``{"benchmark", "machine", "rows", ...}`` JSON."""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    result = {"benchmark": name, "machine": machine(), "rows": rows, **(extra or {})}
    out = out or Path(f"bench-{name}.json")
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"\nwritten {out}")
    return result


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
