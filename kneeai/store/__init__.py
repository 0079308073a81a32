"""The registry: patients under pseudonyms, their visits, and a hash-chained audit trail.

Re-exports only; see :mod:`kneeai.store.registry` (patients and visits) and :mod:`kneeai.store.trail`
(gradings and exports outside a visit) for the functions pages and the CLI call.
"""
from kneeai.store.registry import (
    OverrideRecord,
    PatientRecord,
    VisitRecord,
    all_visits,
    create_patient,
    delete_patient,
    delete_visit,
    get_patient,
    get_visit,
    list_patients,
    new_pseudonym,
    patient_identifiers,
    save_visit,
    search_patients,
    set_override,
    visits_for,
)
from kneeai.store.trail import record_export, record_grading

__all__ = [
    "OverrideRecord",
    "PatientRecord",
    "VisitRecord",
    "all_visits",
    "create_patient",
    "delete_patient",
    "delete_visit",
    "get_patient",
    "get_visit",
    "list_patients",
    "new_pseudonym",
    "patient_identifiers",
    "record_export",
    "record_grading",
    "save_visit",
    "search_patients",
    "set_override",
    "visits_for",
]
