"""The KL grades of one film as a DICOM Structured Report (TID 1500 Measurement Report in a
Comprehensive SR), built with highdicom, and read back.

One measurement group per graded knee (a planar ROI: the knee's box on the source image):

- finding site *Knee* (SCT 72696002) with its laterality (SCT 24028007 right, 7771000 left);
- a qualitative evaluation *Kellgren-Lawrence grade* whose value is ``KL0`` .. ``KL4``;
- the five probabilities P(KL = k) and the expected grade, unit ``1`` (UCUM, no units);
- TID 4019 algorithm identification: the model id as name, the weights' sha256 as version.

KneeAI's own concepts use the private coding scheme ``99KNEEAI`` (declared in the Coding Scheme
Identification Sequence). The root container also says, as a Comment (DCM 121106), that this
is research software and not a diagnosis.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kneeai.pipeline import GradedKnee

__all__ = ["SCHEME", "DISCLAIMER", "SR_SERIES_DESCRIPTION", "ReportedKnee", "build_kl_report", "read_kl_report"]

SCHEME = "99KNEEAI"
DISCLAIMER = ("KneeAI, research and education only: not a certified medical device. These grades were made by software "
              "and must not be used for diagnosis or treatment decisions.")
SR_SERIES_DESCRIPTION = "KneeAI KL grades (research use only)"
_LATERALITY = {"R": ("24028007", "Right"), "L": ("7771000", "Left")}


def _code(value: str, scheme: str, meaning: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value, scheme, meaning)


def _kl_code(k: int) -> Any:
    return _code(f"KL{k}", SCHEME, f"Kellgren-Lawrence grade {k}")


@dataclass(frozen=True)
class ReportedKnee:
    """One knee as read back from a KneeAI SR."""

    identifier: str
    laterality: str | None
    kl_grade: int
    probabilities: tuple[float, ...]
    expected_grade: float | None
    model_id: str
    model_sha256: str
    source_sop_uid: str


def build_kl_report(source: Any, graded: Sequence[GradedKnee], *, series_number: int = 9901,
                    instance_number: int = 1) -> Any:
    """A Comprehensive SR in ``source``'s study with the grades of ``graded`` (refused knees are left out).

    source : the pydicom Dataset of the graded film, as pulled from the PACS.
    """
    import highdicom as hd
    import numpy as np
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    knees = [g for g in graded if g.result is not None]
    if not knees:
        raise ValueError("no graded knee to report")
    rows, cols = int(source.Rows), int(source.Columns)
    model = knees[0].result.model
    groups = []
    for g in knees:
        r, k = g.result, g.knee
        x0, y0 = max(0, k.box.left), max(0, k.box.top)
        x1, y1 = min(cols, k.box.left + k.box.width), min(rows, k.box.top + k.box.height)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=corners,
                                   source_image=hd.sr.SourceImageForRegion.from_source_image(source))
        lat = _LATERALITY.get(k.laterality or "")
        side = _code(lat[0], "SCT", lat[1]) if lat else None
        site = hd.sr.FindingSite(_code("72696002", "SCT", "Knee"), laterality=side)
        unit = _code("1", "UCUM", "no units")
        measurements = [hd.sr.Measurement(name=_code(f"P-KL{i}", SCHEME, f"Probability of Kellgren-Lawrence grade {i}"),
                                          value=float(p), unit=unit) for i, p in enumerate(r.probabilities)]
        measurements.append(hd.sr.Measurement(name=_code("KL-EXPECTED", SCHEME, "Expected Kellgren-Lawrence grade"),
                                              value=float(r.expected_grade), unit=unit))
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"Knee {k.index}"),
            referenced_region=region,
            finding_type=_code("396275006", "SCT", "Osteoarthritis"),
            algorithm_id=hd.sr.AlgorithmIdentification(name=r.model.model_id, version=r.model.sha256 or "unknown",
                                                        manufacturer="KneeAI"),
            finding_sites=[site],
            measurements=measurements,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(_code("KL-GRADE", SCHEME, "Kellgren-Lawrence grade"),
                                                                 _kl_code(r.kl_grade))],
        ))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="KneeAI", manufacturer_name="KneeAI", model_name=model.model_id))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_code("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=groups,
    )
    root = report[0]
    root.ContentSequence.append(hd.sr.TextContentItem(name=codes.DCM.Comment, value=DISCLAIMER,
                                                      relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    sr = hd.sr.ComprehensiveSR(
        evidence=[source], content=root, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=instance_number, manufacturer="KneeAI",
        is_complete=True, is_final=False, is_verified=False, series_description=SR_SERIES_DESCRIPTION,
    )
    scheme = Dataset()
    scheme.CodingSchemeDesignator = SCHEME
    scheme.CodingSchemeName = "KneeAI knee osteoarthritis grading concepts"
    scheme.CodingSchemeResponsibleOrganization = "KneeAI open-source project"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


def _concept(item: Any) -> str:
    seq = item.get("ConceptNameCodeSequence")
    return str(seq[0].CodeValue) if seq else ""


def _walk(items: Any):
    for item in items or []:
        yield item
        yield from _walk(item.get("ContentSequence"))


def read_kl_report(ds: Any) -> tuple[list[ReportedKnee], str]:
    """The knees and the disclaimer of a KneeAI SR (as stored in or read back from a PACS)."""
    knees: list[ReportedKnee] = []
    disclaimer = ""
    for item in ds.get("ContentSequence") or []:
        if _concept(item) == "121106" and item.get("ValueType") == "TEXT":
            disclaimer = str(item.TextValue)
    for group in _walk(ds.get("ContentSequence")):
        if _concept(group) != "125007":  # Measurement Group
            continue
        ident, lat, grade, model_id, sha, src = "", None, -1, "", "", ""
        probs: dict[int, float] = {}
        expected = None
        for item in _walk(group.get("ContentSequence")):
            c, vt = _concept(item), item.get("ValueType")
            if c == "112039":
                ident = str(item.TextValue)
            elif c == "272741003":
                lat = {"24028007": "R", "7771000": "L"}.get(str(item.ConceptCodeSequence[0].CodeValue))
            elif c == "KL-GRADE":
                grade = int(str(item.ConceptCodeSequence[0].CodeValue).removeprefix("KL"))
            elif c.startswith("P-KL") and vt == "NUM":
                probs[int(c[4:])] = float(item.MeasuredValueSequence[0].NumericValue)
            elif c == "KL-EXPECTED" and vt == "NUM":
                expected = float(item.MeasuredValueSequence[0].NumericValue)
            elif c == "111001":
                model_id = str(item.TextValue)
            elif c == "111003":
                sha = str(item.TextValue)
            elif vt == "SCOORD" and item.get("ContentSequence"):
                src = str(item.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        ordered = tuple(probs[i] for i in sorted(probs))
        knees.append(ReportedKnee(ident, lat, grade, ordered, expected, model_id, sha, src))
    return knees, disclaimer
