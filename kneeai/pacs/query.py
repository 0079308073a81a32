"""Find studies (QIDO-RS), list a study's knee films, and pull one (WADO-RS) into a Radiograph.

What the PACS says about the patient (name, ID, birth date) is kept in ``identifiers``, apart
from everything else, as intake does: it is shown on request and never stored in the registry
unless the user links the study to a registry patient.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kneeai.pacs.client import PacsClient, dataset_bytes
from kneeai.pacs.errors import NoKneeFilm, NotAnImage
from kneeai.schemas import Radiograph

__all__ = ["StudyQuery", "StudySummary", "FilmRef", "PulledFilm", "find_studies", "knee_films", "pull", "pull_many", "SOURCE_PREFIX", "archive_sources", "pull_source", "read_source",
           "ref_of",
           "FILM_MODALITIES", "KNEE_BODY_PARTS", "KNEEAI_SERIES_PREFIX", "is_image_sop_class"]

# Projection radiography: computed, digital and general radiography.
FILM_MODALITIES = ("CR", "DX", "RG")
# Body Part Examined values (PS3.16 CID 4031 and what modalities send) under which a knee can be;
# an empty value is taken too, and the out-of-distribution gate decides.
KNEE_BODY_PARTS = ("KNEE", "LEG", "LOWER LIMB", "LOWERLIMB", "LOWER_LIMB", "EXTREMITY", "LOWER EXTREMITY")
# Series that KneeAI stored itself (report and overlay) start with this, and are never graded.
KNEEAI_SERIES_PREFIX = "KneeAI"
# SOP classes that carry no image: structured reports, key objects, presentation states,
# encapsulated documents, raw data.
_NON_IMAGE_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.11.", "1.2.840.10008.5.1.4.1.1.104.",
                       "1.2.840.10008.5.1.4.1.1.66", "1.2.840.10008.5.1.4.1.1.9.")

_STUDY_FIELDS = ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription",
                 "ModalitiesInStudy", "NumberOfStudyRelatedInstances", "PatientName", "PatientID", "PatientBirthDate",
                 "PatientSex")
_SERIES_FIELDS = ("SeriesInstanceUID", "Modality", "BodyPartExamined", "SeriesDescription", "SeriesNumber",
                  "Laterality")
_INSTANCE_FIELDS = ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "ImageLaterality")
_IDENTITY = {"PatientName": "PatientName", "PatientID": "PatientID", "PatientBirthDate": "PatientBirthDate",
             "PatientSex": "PatientSex"}


def is_image_sop_class(uid: str) -> bool:
    return bool(uid) and not any(uid.startswith(p) for p in _NON_IMAGE_PREFIXES)


@dataclass(frozen=True)
class StudyQuery:
    """A QIDO-RS study search.

    date : a DICOM date or range, ``20260115``, ``20260101-20260131``, ``20260101-`` (empty: any).
    modality : e.g. ``DX`` (matched against ModalitiesInStudy, or each series' Modality).
    body_part : e.g. ``KNEE`` (a series attribute: studies with such a series).
    """

    date: str = ""
    modality: str = ""
    body_part: str = ""
    accession: str = ""
    limit: int = 200


@dataclass(frozen=True)
class StudySummary:
    """One study as the PACS lists it. ``identifiers`` is the PACS's patient identity (kept apart)."""

    study_uid: str
    date: str
    time: str
    accession: str
    description: str
    modalities: tuple[str, ...]
    n_instances: int
    identifiers: dict[str, str] = field(default_factory=dict, repr=False)

    def record(self, with_identifiers: bool = False) -> dict:
        rec: dict[str, Any] = {"study_uid": self.study_uid, "date": self.date, "time": self.time,
                               "accession": self.accession, "description": self.description,
                               "modalities": list(self.modalities), "n_instances": self.n_instances}
        if with_identifiers:
            rec["patient"] = dict(self.identifiers)
        return rec


@dataclass(frozen=True)
class FilmRef:
    """One radiograph in a study, as QIDO-RS lists it (not yet pulled)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    modality: str
    body_part: str
    series_description: str
    laterality: str

    @property
    def path(self) -> str:
        """Its WADO-RS path under the DICOMweb root: the ``path`` of ``pacs grade --json``."""
        return f"studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uid}"


@dataclass(frozen=True)
class PulledFilm:
    """A film pulled over WADO-RS: the PACS's dataset (needed to reference it), its bytes, and
    the Radiograph that intake made of them."""

    ref: FilmRef
    dataset: Any
    data: bytes
    radiograph: Radiograph


def _dataset(item: dict) -> Any:
    from pydicom.dataset import Dataset

    return Dataset.from_json(item)


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _summary(ds: Any) -> StudySummary:
    mods = tuple(m for m in _text(ds, "ModalitiesInStudy").split("\\") if m)
    n = ds.get("NumberOfStudyRelatedInstances")
    identifiers = {k: _text(ds, kw) for k, kw in _IDENTITY.items() if _text(ds, kw)}
    return StudySummary(_text(ds, "StudyInstanceUID"), _text(ds, "StudyDate"), _text(ds, "StudyTime"),
                        _text(ds, "AccessionNumber"), _text(ds, "StudyDescription"), mods,
                        int(n) if n not in (None, "") else 0, identifiers)


def find_studies(client: PacsClient, query: StudyQuery) -> list[StudySummary]:
    """The studies matching ``query``, newest first."""
    common: dict[str, Any] = {}
    if query.date:
        common["StudyDate"] = query.date
    if query.accession:
        common["AccessionNumber"] = query.accession
    if query.body_part:
        # Body part is a series attribute: find the series, then their studies.
        filters = dict(common, BodyPartExamined=query.body_part.upper())
        if query.modality:
            filters["Modality"] = query.modality.upper()
        series = client.search_series(filters, fields=("StudyInstanceUID",), limit=query.limit * 4)
        uids = list(dict.fromkeys(_text(_dataset(s), "StudyInstanceUID") for s in series))[: query.limit]
        found = []
        for uid in uids:
            found += client.search_studies({"StudyInstanceUID": uid}, fields=_STUDY_FIELDS, limit=1)
    else:
        filters = dict(common)
        if query.modality:
            filters["ModalitiesInStudy"] = query.modality.upper()
        found = client.search_studies(filters, fields=_STUDY_FIELDS, limit=query.limit)
    studies = [_summary(_dataset(item)) for item in found]
    return sorted(studies, key=lambda s: (s.date, s.time, s.study_uid), reverse=True)


def _series_is_knee_film(ds: Any) -> bool:
    if _text(ds, "Modality").upper() not in FILM_MODALITIES:
        return False
    if _text(ds, "SeriesDescription").startswith(KNEEAI_SERIES_PREFIX):
        return False
    part = _text(ds, "BodyPartExamined").upper()
    return part == "" or part in KNEE_BODY_PARTS


def knee_films(client: PacsClient, study_uid: str) -> list[FilmRef]:
    """Every radiograph of ``study_uid`` that may show a knee, in series and instance order.

    Raises NoKneeFilm when there is none (a chest film, only reports, KneeAI's own objects)."""
    films: list[tuple[tuple, FilmRef]] = []
    for s in client.search_series({}, study_uid=study_uid, fields=_SERIES_FIELDS):
        sds = _dataset(s)
        if not _series_is_knee_film(sds):
            continue
        series_uid = _text(sds, "SeriesInstanceUID")
        for i in client.search_instances(study_uid, series_uid, fields=_INSTANCE_FIELDS):
            ids = _dataset(i)
            sop_class = _text(ids, "SOPClassUID")
            if not is_image_sop_class(sop_class):
                continue
            ref = FilmRef(study_uid, series_uid, _text(ids, "SOPInstanceUID"), sop_class, _text(sds, "Modality"),
                          _text(sds, "BodyPartExamined"), _text(sds, "SeriesDescription"),
                          _text(ids, "ImageLaterality") or _text(sds, "Laterality"))
            order = (int(_text(sds, "SeriesNumber") or 0), int(_text(ids, "InstanceNumber") or 0), ref.sop_uid)
            films.append((order, ref))
    if not films:
        raise NoKneeFilm(study=study_uid)
    return [ref for _, ref in sorted(films, key=lambda x: x[0])]


def ref_of(client: PacsClient, study_uid: str, series_uid: str, sop_uid: str) -> FilmRef:
    """A FilmRef for one instance named by its UIDs, whatever its series is."""
    meta = _dataset(client.retrieve_metadata(study_uid, series_uid, sop_uid))
    return FilmRef(study_uid, series_uid, sop_uid, _text(meta, "SOPClassUID"), _text(meta, "Modality"),
                   _text(meta, "BodyPartExamined"), _text(meta, "SeriesDescription"),
                   _text(meta, "ImageLaterality") or _text(meta, "Laterality"))


def pull(client: PacsClient, ref: FilmRef) -> PulledFilm:
    """Retrieve ``ref`` over WADO-RS and read it through the usual intake.

    Raises NotAnImage for a report, a presentation state or any object without pixels; intake's
    own errors (unsupported codec, ...) otherwise."""
    if not is_image_sop_class(ref.sop_class):
        raise NotAnImage(sop_class=ref.sop_class)
    ds = client.retrieve_instance(ref.study_uid, ref.series_uid, ref.sop_uid)
    data, rad = _read_instance(ds, str(ds.get("SOPClassUID", ref.sop_class)))
    return PulledFilm(ref, ds, data, rad)


def _read_instance(ds, sop_class: str) -> tuple[bytes, Radiograph]:
    """A retrieved instance's bytes and Radiograph, through the usual intake; NotAnImage for an
    object without pixels."""
    from kneeai.errors import NoPixelData
    from kneeai.io import load_radiograph

    if "PixelData" not in ds:
        raise NotAnImage(sop_class=sop_class)
    data = dataset_bytes(ds)
    try:
        return data, load_radiograph(data)
    except NoPixelData as exc:
        raise NotAnImage(sop_class=sop_class) from exc


# An archive source that names a PACS instance rather than a file: this prefix and the film's
# WADO-RS path (FilmRef.path). Archive rows and manifests carry it in place of a file path.
SOURCE_PREFIX = "dicomweb:"


def archive_sources(client: PacsClient, query: StudyQuery) -> list[str]:
    """Every knee film of every study ``query`` finds, as archive sources, newest study first.

    A study without a knee film (a chest film, a report) adds nothing."""
    sources: list[str] = []
    for study in find_studies(client, query):
        try:
            sources += [SOURCE_PREFIX + ref.path for ref in knee_films(client, study.study_uid)]
        except NoKneeFilm:
            continue
    return sources


def pull_source(client: PacsClient, source: str) -> Radiograph:
    """The Radiograph of an archive source made by :func:`archive_sources`."""
    parts = source.removeprefix(SOURCE_PREFIX).split("/")
    if not source.startswith(SOURCE_PREFIX) or len(parts) != 6 or parts[::2] != ["studies", "series", "instances"]:
        raise NotAnImage(sop_class=source)
    study, series, sop = parts[1::2]
    # One request a film: the instance carries its own SOP class, so no metadata query first.
    ds = client.retrieve_instance(study, series, sop)
    sop_class = str(ds.get("SOPClassUID", ""))
    if not is_image_sop_class(sop_class):
        raise NotAnImage(sop_class=sop_class or source)
    return _read_instance(ds, sop_class)[1]


@lru_cache(maxsize=1)
def _env_client() -> PacsClient:
    from kneeai.pacs.client import connect

    return connect()


def read_source(source: str) -> Radiograph:
    """An archive source: a PACS instance (:data:`SOURCE_PREFIX`), pulled from the PACS of the
    environment (``KNEEAI_PACS_URL``, ``_USER``, ``_PASSWORD``), or else a file path.

    A module-level function, so Ray ships it to its workers by name; each worker connects once."""
    if source.startswith(SOURCE_PREFIX):
        return pull_source(_env_client(), source)
    from kneeai.io import load_radiograph

    return load_radiograph(source)


def pull_many(client: PacsClient, refs: Sequence[FilmRef]) -> list[PulledFilm]:
    return [pull(client, r) for r in refs]
