"""The dataset's split folders (``0/`` .. ``4/`` = KL grade): which files a split holds."""
from __future__ import annotations

from pathlib import Path

from kneeai.grading.model import NUM_GRADES
from kneeai.io.sniff import IMAGE_SUFFIXES as _READABLE

__all__ = ["IMAGE_SUFFIXES", "list_split"]

# What intake reads, less the extensionless DICOM (a split folder holds named image files).
IMAGE_SUFFIXES = frozenset(s for s in _READABLE if s)


def list_split(root: Path, limit_per_grade: int = 0) -> tuple[list[Path], list[int]]:
    """The image files of a split folder and their grades."""
    files, labels = [], []
    for grade in range(NUM_GRADES):
        found = sorted(p for p in (root / str(grade)).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if limit_per_grade:
            found = found[:limit_per_grade]
        files += found
        labels += [grade] * len(found)
    return files, labels
