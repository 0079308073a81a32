"""Small synthetic studies for the PACS tests, made from the example knees in ``examples/knees``.

- a bilateral DX film (1100 x 620): the right knee (the KL2 example, scaled up) on the viewer's left,
  the left knee (the KL3 example) on the right, on a dark background, as a knee series of a study
  with its own accession number;
- a chest CR study (no knee film);
- a study whose only object is a Basic Text SR (no image at all).

Identity is made up (``KNEEAI^TEST``); nothing is copied from a dataset.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
KNEES = ROOT / "examples" / "knees"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


@dataclass(frozen=True)
class LoadedStudies:
    knee_study: str
    knee_series: str
    knee_instance: str
    knee_accession: str
    chest_study: str
    text_study: str
    text_series: str
    text_instance: str


FILM_SHAPE = (620, 1100)  # a whole film's size (viewers export 1000 px and more a side): never taken for one crop
KNEE_SIDE = 493  # each 224-px example crop scaled 2.2x


def bilateral_pixels() -> np.ndarray:
    """uint16, shape FILM_SHAPE, 12-bit: the R knee on the viewer's left, the L knee on the right."""
    from PIL import Image

    film = np.zeros(FILM_SHAPE, np.uint16)
    top = (FILM_SHAPE[0] - KNEE_SIDE) // 2
    for name, left in (("kl2_9023348R.webp", 40), ("kl3_9023348L.webp", FILM_SHAPE[1] - 40 - KNEE_SIDE)):
        img = Image.open(KNEES / name).convert("L").resize((KNEE_SIDE, KNEE_SIDE), Image.Resampling.BICUBIC)
        film[top:top + KNEE_SIDE, left:left + KNEE_SIDE] = np.asarray(img, dtype=np.uint16) * 16
    return film


def _base(sop_class: str, study: str, series: str, modality: str, accession: str, patient_id: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "KNEEAI^TEST", patient_id, "19600101", "F"
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20260115", "101500", "1"
    ds.SeriesDate, ds.SeriesTime = "20260115", "101500"
    ds.ContentDate, ds.ContentTime = "20260115", "101500"
    ds.AccessionNumber, ds.ReferringPhysicianName = accession, ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, 1
    ds.Manufacturer = "KneeAI test films"
    return ds


def _image(ds, pixels: np.ndarray, body_part: str, description: str):
    ds.StudyDescription = f"XR {body_part} synthetic"
    ds.SeriesDescription = description
    ds.BodyPartExamined = body_part
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PatientOrientation = ["L", "F"]  # AP: columns run to the patient's left, rows to the feet
    ds.ViewPosition = "AP"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelIntensityRelationship, ds.PixelIntensityRelationshipSign = "LIN", 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = "B" if body_part == "KNEE" else "U"
    ds.BurnedInAnnotation, ds.LossyImageCompression = "NO", "00"
    ds.DetectorType = "SCINTILLATOR"
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    return ds


def make_datasets(tag: str | None = None) -> tuple[LoadedStudies, list]:
    """The three studies' datasets; ``tag`` makes their accession numbers unique per test run."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    tag = tag or datetime.datetime.now().strftime("%H%M%S%f")
    acc = f"KN{tag}"[:16]
    knee_study, knee_series = generate_uid(), generate_uid()
    knee = _image(_base(DX_PRESENTATION, knee_study, knee_series, "DX", acc, "KNEEAI-TEST-1"), bilateral_pixels(),
                  "KNEE", "Knees AP bilateral")
    chest_study = generate_uid()
    chest_pixels = np.full((256, 256), 900, np.uint16)
    chest_pixels[40:216, 30:120] = 2600
    chest_pixels[40:216, 136:226] = 2600
    chest = _image(_base(CR_IMAGE, chest_study, generate_uid(), "CR", f"C{acc}"[:16], "KNEEAI-TEST-2"), chest_pixels,
                   "CHEST", "Chest PA")
    text_study = generate_uid()
    text = _base(BASIC_TEXT_SR, text_study, generate_uid(), "SR", f"T{acc}"[:16], "KNEEAI-TEST-3")
    text.StudyDescription, text.SeriesDescription = "Referral letter", "Referral"
    text.ValueType, text.CompletionFlag, text.VerificationFlag = "CONTAINER", "COMPLETE", "UNVERIFIED"
    text.ContinuityOfContent = "SEPARATE"
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = "18748-4", "LN", "Diagnostic imaging report"
    text.ConceptNameCodeSequence = [name]
    text.ReferencedPerformedProcedureStepSequence = []
    text.PerformedProcedureCodeSequence = []
    item = Dataset()
    item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", "Knee pain, please image both knees."
    finding = Dataset()
    finding.CodeValue, finding.CodingSchemeDesignator, finding.CodeMeaning = "121071", "DCM", "Finding"
    item.ConceptNameCodeSequence = [finding]
    text.ContentSequence = [item]
    studies = LoadedStudies(knee_study, knee_series, str(knee.SOPInstanceUID), acc, chest_study, text_study,
                          str(text.SeriesInstanceUID), str(text.SOPInstanceUID))
    return studies, [knee, chest, text]


def load_into(client, tag: str | None = None) -> LoadedStudies:
    """STOW the three studies into a PACS through ``kneeai.pacs.client.PacsClient``."""
    studies, datasets = make_datasets(tag)
    for ds in datasets:
        client.store([ds], str(ds.StudyInstanceUID))
    return studies
