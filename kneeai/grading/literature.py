"""Published KL-grading results: the one home for the numbers the model card compares against.

``verified`` is True where the figure was checked against the paper's abstract here; the others
are recalled from the literature and marked as such wherever they are shown.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Published", "PUBLISHED", "HUMAN_KAPPA_RANGE"]


@dataclass(frozen=True)
class Published:
    study: str
    model: str
    data: str
    accuracy: float | None
    kappa: float | None
    mae: float | None
    note: str
    verified: bool


PUBLISHED: tuple[Published, ...] = (
    Published("Antony et al. 2017 (arXiv:1703.09856)", "CNN from scratch, CE + MSE loss", "OAI + MOST knee crops",
              0.634, None, 0.48, "accuracy and MAE recalled, not verified", False),
    Published("Tiulpin et al. 2018 (DeepKnee, Sci Rep)", "Siamese ResNet ensemble", "OAI (trained on MOST)",
              0.667, 0.83, None, "QWK 0.83, accuracy 66.7% as quoted in issue 4", False),
    Published("Norman et al. 2019 (J Digit Imaging)", "DenseNet ensemble", "OAI, 4 classes (KL0-1 / 2 / 3 / 4)",
              None, None, None, "sensitivity 83.7 / 70.2 / 68.9 / 86.0%, specificity 86.1 / 83.8 / 97.1 / 99.1%", True),
    Published("Chen et al. 2019 (CMIG)", "VGG-19, ordinal loss", "this dataset's test split (1656 knees)",
              0.697, None, 0.344, "the bar to beat on this data", False),
    Published("Thomas et al. 2020 (Radiol AI)", "DenseNet-169, full radiographs", "OAI, 4090 test images",
              0.71, 0.86, None, "weighted kappa 0.86, F1 0.70", True),
)

# Inter-reader agreement for KL grading, as weighted kappa (issue 4; literature range).
HUMAN_KAPPA_RANGE: tuple[float, float] = (0.5, 0.85)
