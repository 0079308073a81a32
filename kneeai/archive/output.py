"""The archive's output folder, written so that an interrupted run resumes without regrading.

    OUT/results.csv           one row per knee, appended as the run goes
    OUT/results.parquet/      the same rows as Parquet parts (read the folder as one dataset)
    OUT/manifest.jsonl        the run's options, then one line per finished file (stays local)
    OUT/summary.json          counts, refusals by reason and timing, rewritten at the end

Rows are committed in chunks: the CSV rows are appended and synced, the chunk's Parquet part is
written to a temporary name and renamed, and only then are its files added to the manifest with
the CSV's length after them. On resume the CSV is cut back to the last committed length and
Parquet parts the manifest does not name are removed, so a crash at any point leaves neither a
lost nor a doubled row.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kneeai.archive.rows import COLUMNS, FILE_COLUMN
from kneeai.errors import KneeAIError

__all__ = ["ArchiveOutput", "MANIFEST", "CSV_NAME", "PARQUET_DIR", "SUMMARY"]

MANIFEST = "manifest.jsonl"
CSV_NAME = "results.csv"
PARQUET_DIR = "results.parquet"
SUMMARY = "summary.json"
FORMAT = "kneeai-archive/1"


def _fsync(f) -> None:
    f.flush()
    os.fsync(f.fileno())


def _csv_safe(v: Any) -> Any:
    # A cell that a spreadsheet would run as a formula (CSV injection) gets a leading apostrophe.
    from kneeai.report.csv_export import _safe

    return _safe({"v": v})["v"]


@dataclass
class ArchiveOutput:
    """Open with :meth:`open`; :meth:`commit` each chunk; :attr:`done` is what a resume skips."""

    folder: Path
    options: dict[str, Any]
    done: dict[str, dict] = field(default_factory=dict)  # path -> its manifest line
    _parts: int = 0

    @property
    def columns(self) -> tuple[str, ...]:
        return (*COLUMNS, FILE_COLUMN) if self.options.get("include_file_names") else COLUMNS

    @classmethod
    def open(cls, folder: Path, options: dict[str, Any], restart: bool = False) -> "ArchiveOutput":
        """Create the folder, or pick up a run in it (the same options only)."""
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / MANIFEST
        if restart:
            for name in (MANIFEST, CSV_NAME, SUMMARY):
                (folder / name).unlink(missing_ok=True)
            for part in (folder / PARQUET_DIR).glob("*.parquet*"):
                part.unlink()
        out = cls(folder, dict(options))
        if manifest.exists() and manifest.stat().st_size:
            out._resume()
        else:
            with open(manifest, "w", encoding="utf-8") as f:
                f.write(json.dumps({"format": FORMAT, "options": out.options}, ensure_ascii=False) + "\n")
                _fsync(f)
            with open(folder / CSV_NAME, "w", encoding="utf-8", newline="") as f:
                csv.writer(f, lineterminator="\n").writerow(out.columns)
                _fsync(f)
        (folder / PARQUET_DIR).mkdir(exist_ok=True)
        return out

    def _resume(self) -> None:
        lines = (self.folder / MANIFEST).read_text(encoding="utf-8").splitlines()
        try:
            head = json.loads(lines[0])
        except (json.JSONDecodeError, IndexError):
            raise KneeAIError("error.archive_foreign", folder=str(self.folder)) from None
        if head.get("format") != FORMAT:
            raise KneeAIError("error.archive_foreign", folder=str(self.folder))
        if head.get("options") != self.options:
            changed = sorted(k for k in {*head.get("options", {}), *self.options}
                             if head.get("options", {}).get(k) != self.options.get(k))
            raise KneeAIError("error.archive_options_changed", folder=str(self.folder), options=", ".join(changed))
        csv_len = None
        parts: set[str] = set()
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line torn by the crash: its chunk was not committed
                break
            self.done[entry["path"]] = entry
            csv_len = entry["csv_bytes"]
            parts.add(entry["part"])
        csv_path = self.folder / CSV_NAME
        if csv_len is not None:
            with open(csv_path, "r+b") as f:
                f.truncate(csv_len)
                _fsync(f)
        else:  # nothing committed: keep only the header
            with open(csv_path, "w", encoding="utf-8", newline="") as f:
                csv.writer(f, lineterminator="\n").writerow(self.columns)
                _fsync(f)
        pq = self.folder / PARQUET_DIR
        for p in pq.glob("*"):
            if p.name not in parts:
                p.unlink()
        self._parts = len(parts)
        # Rewrite the manifest without a torn tail, so later lines append cleanly.
        keep = [lines[0]] + [json.dumps(e, ensure_ascii=False) for e in self.done.values()]
        tmp = self.folder / (MANIFEST + ".tmp")
        tmp.write_text("\n".join(keep) + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / MANIFEST)

    def commit(self, files: list[tuple[str, int, list[dict[str, Any]]]]) -> None:
        """Write a chunk: ``(path, item, rows)`` per finished file, in input order."""
        if not files:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = self.columns
        rows = [r for _, _, rs in files for r in rs]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for r in rows:
            w.writerow(["" if r.get(c) is None else _csv_safe(r.get(c)) for c in cols])
        csv_path = self.folder / CSV_NAME
        with open(csv_path, "a", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
            _fsync(f)
        csv_bytes = csv_path.stat().st_size
        part = f"part-{self._parts:05d}.parquet"
        table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows], schema=_schema(cols))
        tmp = self.folder / PARQUET_DIR / (part + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.folder / PARQUET_DIR / part)
        self._parts += 1
        with open(self.folder / MANIFEST, "a", encoding="utf-8") as f:
            for path, item, rs in files:
                entry = {"path": path, "item": item, "knees": sum(r["knee"] is not None for r in rs),
                         "csv_bytes": csv_bytes, "part": part}
                self.done[path] = entry
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            _fsync(f)

    def write_summary(self, summary: dict[str, Any]) -> Path:
        path = self.folder / SUMMARY
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


def _schema(cols: tuple[str, ...]):
    import pyarrow as pa

    ints = {"item", "knee", "box_x0", "box_y0", "box_x1", "box_y1", "kl_grade"}
    floats = {"p_kl0", "p_kl1", "p_kl2", "p_kl3", "p_kl4", "expected_grade", "entropy", "flip_disagreement", "gate_score"}
    def kind(c: str):
        if c in ints:
            return pa.int32()
        if c in floats:
            return pa.float64()
        if c in ("outside_validated_use", "inverted"):
            return pa.bool_()
        return pa.string()
    return pa.schema([(c, kind(c)) for c in cols])
