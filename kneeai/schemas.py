"""Frozen dataclasses that flow one way between the stages:

bytes -> Radiograph -> KneeCrop -> GradeResult (+ Explanation) -> RiskInput -> RiskResult
-> PatientSummary -> PDF / JSON / FHIR and the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "grade_in_force",
    "Laterality",
    "Radiograph",
    "CropBox",
    "KneeCrop",
    "ModelInfo",
    "GateResult",
    "GradeResult",
    "RegionShare",
    "Explanation",
    "RiskInput",
    "ModelRisk",
    "RiskResult",
    "PatientSummary",
    "KL_GRADES",
    "RISK_HORIZONS_YEARS",
]

Laterality = Literal["L", "R"]
KL_GRADES: tuple[int, ...] = (0, 1, 2, 3, 4)
# Horizons the risk panel and every export report, in years.
RISK_HORIZONS_YEARS: tuple[float, ...] = (1.0, 2.0, 5.0, 9.0)


@dataclass(frozen=True)
class Radiograph:
    """A decoded radiograph.

    pixels : ndarray, shape = (rows, cols), float32 in [0, 1], bone bright.
    spacing_mm : (row, col) pixel spacing in millimetres at the detector-corrected plane, or None.
    source : e.g. ``"DICOM 1.2.840.10008.1.2.4.90 (JPEG 2000 Lossless)"`` or ``"PNG 16-bit"``.
    meta : the non-identifying tags that matter (Modality, BodyPartExamined, ViewPosition,
        PhotometricInterpretation, ...). Identifying tags never enter here.
    identifiers : identifying tags (PatientName, PatientID, ...) kept apart, shown or exported
        only when the user asks.
    warnings : i18n message keys for things the user should know (first frame of many, ...).
    colourfulness : Hasler-Süsstrunk colourfulness of the decoded image before it was turned grey
        (``kneeai.io.appearance.colourfulness``); 0 for a grey film. The gate rejects
        colour photographs with it.
    """

    pixels: np.ndarray
    spacing_mm: tuple[float, float] | None
    laterality: Laterality | None
    source: str
    meta: dict[str, str] = field(default_factory=dict)
    identifiers: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    sha256: str = ""
    colourfulness: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))


@dataclass(frozen=True)
class CropBox:
    """A square-ish box on a radiograph, in pixel coordinates (top, left, height, width)."""

    top: int
    left: int
    height: int
    width: int


@dataclass(frozen=True)
class KneeCrop:
    """One knee, resampled to the model input.

    pixels : ndarray, shape = (size, size), float32 in [0, 1], bone bright, in the orientation of
        the film (not mirrored). ``laterality`` tells the explainer which side is medial.
    inverted : the image was a negative (bone dark), and ``pixels`` were turned back
        (:func:`kneeai.pipeline.upright`).
    """

    pixels: np.ndarray
    laterality: Laterality | None
    box: CropBox | None
    source_sha256: str = ""
    mm_per_pixel: float | None = None
    inverted: bool = False


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    sha256: str
    placeholder: bool = False


@dataclass(frozen=True)
class GateResult:
    """The out-of-distribution gate's verdict. ``reason`` is an i18n key when not accepted."""

    accepted: bool
    score: float
    reason: str | None = None
    prosthesis: bool = False


@dataclass(frozen=True)
class GradeResult:
    """KL grade of one knee.

    probabilities : length-5 tuple, P(KL = k), after temperature scaling and flip averaging.
    expected_grade : sum_k k * P(KL = k).
    entropy : Shannon entropy of ``probabilities`` in nats (0 .. ln 5).
    flip_disagreement : total-variation distance between the plain and mirrored predictions.
    """

    kl_grade: int
    probabilities: tuple[float, ...]
    expected_grade: float
    entropy: float
    flip_disagreement: float
    model: ModelInfo
    gate: GateResult | None = None
    outside_validated_use: bool = False

    @property
    def uncertainty(self) -> dict[str, float]:
        return {"entropy": self.entropy, "flip_disagreement": self.flip_disagreement}


@dataclass(frozen=True)
class RegionShare:
    """Share of attribution inside one anatomical region; ``region`` is an i18n key suffix.

    area : the region's share of the crop's pixels. A large region (the femur) collects a large
        share of a diffuse map; ``concentration`` (share / area, 1 = an even spread) says where the
        evidence is dense rather than merely plentiful.
    """

    region: str
    share: float
    area: float = 0.0

    @property
    def concentration(self) -> float:
        return self.share / self.area if self.area > 0 else 0.0


@dataclass(frozen=True)
class Explanation:
    """A saliency map for one knee crop.

    heatmap : ndarray, shape = (size, size), float32 in [0, 1], same frame as the crop.
    method : "gradcam" or "occlusion".
    regions : shares of attribution per anatomical region, largest first.
    """

    heatmap: np.ndarray
    method: str
    target_grade: int
    regions: tuple[RegionShare, ...]


@dataclass(frozen=True)
class RiskInput:
    """Clinical inputs for the TKR models.

    kl_probabilities : when set, the KL input is mixed over these five probabilities; otherwise
        ``kl_grade`` is used as given (e.g. typed by the clinician or an override).
    sex : "F" or "M".
    """

    age: float
    sex: Literal["F", "M"]
    bmi: float
    womac_pain: float
    kl_grade: int
    kl_probabilities: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ModelRisk:
    """One survival model's answer for one patient.

    times : years at which the curve is evaluated.
    survival, survival_low, survival_high : S(t) and its 95% interval at ``times``.
    risk_at : cumulative TKR risk 1 - S(t) at each of RISK_HORIZONS_YEARS, (point, low, high).
    contributions : feature -> log-hazard contribution relative to the reference patient.
    """

    model_name: str
    model_id: str
    sha256: str
    times: tuple[float, ...]
    survival: tuple[float, ...]
    survival_low: tuple[float, ...]
    survival_high: tuple[float, ...]
    risk_at: dict[float, tuple[float, float, float]]
    contributions: dict[str, float]
    simulated: bool


@dataclass(frozen=True)
class RiskResult:
    inputs: RiskInput
    models: tuple[ModelRisk, ...]

    @property
    def simulated(self) -> bool:
        return any(m.simulated for m in self.models)


@dataclass(frozen=True)
class PatientSummary:
    """What an export carries. ``identifiers`` stays empty unless the user opted in."""

    pseudonym: str
    visit_date: str
    laterality: Laterality | None
    grade: GradeResult | None
    override_grade: int | None
    override_reason: str | None
    explanation: Explanation | None
    risk: RiskResult | None
    crop_pixels: np.ndarray | None
    identifiers: dict[str, str] = field(default_factory=dict)
    language: str = "en"
    # The image was a negative (bone dark), turned back before grading: crop_pixels are the turned crop.
    inverted: bool = False


def grade_in_force(model_grade: int | None, override_grade: int | None) -> int | None:
    """The KL grade that the risk, the summary and the registry use: a clinician's override where
    there is one, else the model's (the one home of that rule)."""
    return int(override_grade) if override_grade is not None else model_grade
