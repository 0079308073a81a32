"""PACS: find, pull and grade studies over DICOMweb, and store the grades back (SR + overlay).

``dicomweb-client`` and ``highdicom`` are imported only when used.
"""
from kneeai.pacs.client import PacsClient, PacsSettings, connect
from kneeai.pacs.errors import (
    NoKneeFilm,
    NotAnImage,
    PacsError,
    PacsNotConfigured,
    PacsRefused,
    PacsUnreachable,
    StowRejected,
)
from kneeai.pacs.grade import GradedFilm, StoredObjects, film_records, grade_film, grade_study, store_results
from kneeai.pacs.query import FilmRef, PulledFilm, StudyQuery, StudySummary, find_studies, knee_films, pull

__all__ = [
    "PacsClient", "PacsSettings", "connect",
    "PacsError", "PacsNotConfigured", "PacsUnreachable", "PacsRefused", "NoKneeFilm", "NotAnImage", "StowRejected",
    "StudyQuery", "StudySummary", "FilmRef", "PulledFilm", "find_studies", "knee_films", "pull",
    "GradedFilm", "StoredObjects", "grade_film", "grade_study", "store_results", "film_records",
]
