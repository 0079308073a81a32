"""Grade a whole archive: files in, one row per knee out, to CSV and Parquet as it goes.

- :mod:`~kneeai.archive.rows`: the table's columns and a graded file's rows (one home for both,
  so a local run and a Ray run cannot disagree).
- :mod:`~kneeai.archive.output`: the output folder (CSV, Parquet parts, the resume manifest).
- :mod:`~kneeai.archive.run`: the driver, on this machine or as Ray tasks.
"""
from kneeai.archive.run import ArchiveSummary, run_archive

__all__ = ["ArchiveSummary", "run_archive"]
