"""The data the shipped grader learned from: one home for its citation and split sizes.

The model card, the ship tool, the About page and the README all quote these; a test checks the
README against them and, where the data folder is present, checks the sizes against the folders.
"""
from __future__ import annotations

__all__ = ["DATASET_NAME", "DATASET_SOURCE", "SPLIT_KNEES"]

DATASET_NAME = "Knee Osteoarthritis Severity Grading Dataset"
DATASET_SOURCE = "Chen 2018, Mendeley Data, doi:10.17632/56rmx5bjcr.1, CC BY 4.0"
# Knees per split of version 1; the test split is not in this project's data (it is held out).
SPLIT_KNEES = {"train": 5778, "val": 826, "test": 1656}
