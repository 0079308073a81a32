"""Grade a PACS study through the one pipeline, and store the results back in it.

:func:`grade_study` lists the study's knee films (QIDO-RS), pulls each (WADO-RS), and grades it
with :func:`kneeai.pipeline.grade_radiograph`, as a file on disk would be. :func:`store_results`
builds the SR and the overlay of one film and sends both to the same study (STOW-RS): only when
the caller says so, since it writes into the hospital's archive.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kneeai.errors import KneeAIError
from kneeai.pacs.client import PacsClient
from kneeai.pacs.query import FilmRef, PulledFilm, knee_films, pull
from kneeai.pipeline import GradedKnee, ImageKind
from kneeai.schemas import Explanation

__all__ = ["GradedFilm", "StoredObjects", "grade_film", "grade_study", "store_results", "film_records"]


@dataclass(frozen=True)
class StoredObjects:
    """SOP Instance UIDs of what KneeAI stored for one film."""

    sr: str
    overlay: str


@dataclass(frozen=True)
class GradedFilm:
    """One film of a study: its knees graded, or the error that stopped it before grading."""

    ref: FilmRef
    film: PulledFilm | None
    knees: tuple[GradedKnee, ...] = ()
    error: KneeAIError | None = None
    heatmaps: tuple[Explanation | None, ...] = field(default=(), repr=False)

    @property
    def graded(self) -> tuple[GradedKnee, ...]:
        return tuple(k for k in self.knees if k.result is not None)


def grade_film(client: PacsClient, ref: FilmRef, *, kind: ImageKind = "auto", allow_outside_use: bool = False,
               grader=None, user: str | None = None) -> GradedFilm:
    """Pull and grade one film; its gradings go to the audit trail under the film's hash only
    (``user``: the signed-in user, if any)."""
    from kneeai.pipeline import Audit, grade_radiograph

    try:
        film = pull(client, ref)
        knees = tuple(grade_radiograph(film.radiograph, kind=kind, allow_outside_use=allow_outside_use, grader=grader,
                                       audit=Audit(user=user)))
    except KneeAIError as exc:
        return GradedFilm(ref, None, (), exc)
    return GradedFilm(ref, film, knees)


def grade_study(client: PacsClient, study_uid: str, *, kind: ImageKind = "auto", allow_outside_use: bool = False,
                grader=None, progress: Callable[[int, int], None] | None = None) -> list[GradedFilm]:
    """Every knee film of ``study_uid``, graded. Raises NoKneeFilm when the study has none."""
    from kneeai.grading.weights import load_grader

    grader = grader or load_grader()
    refs = knee_films(client, study_uid)
    out = []
    for i, ref in enumerate(refs, start=1):
        out.append(grade_film(client, ref, kind=kind, allow_outside_use=allow_outside_use, grader=grader))
        if progress:
            progress(i, len(refs))
    return out


def _explain_all(graded: GradedFilm, grader) -> tuple[Explanation | None, ...]:
    from kneeai.explain import explain

    if graded.heatmaps and len(graded.heatmaps) == len(graded.knees):
        return graded.heatmaps
    return tuple(explain(k.knee.crop, k.result, grader=grader) if k.result is not None else None for k in graded.knees)


def store_results(client: PacsClient, graded: GradedFilm, *, grader=None, user: str | None = None) -> StoredObjects:
    """Send the SR and the overlay of ``graded`` to its study. Raises StowRejected if the PACS refuses.

    What was sent is an export: the audit trail notes it (format ``dicom-sr+sc``, the sha256 of
    both objects, identifiers included, since they carry the PACS's patient module)."""
    from kneeai.grading.weights import load_grader
    from kneeai.pacs.capture import build_overlay
    from kneeai.pacs.sr import build_kl_report

    if graded.film is None or not graded.graded:
        raise ValueError("nothing graded to store")
    grader = grader or load_grader()
    source = graded.film.dataset
    sr = build_kl_report(source, graded.knees)
    sc = build_overlay(source, graded.film.radiograph, graded.knees, _explain_all(graded, grader))
    client.store([sr, sc], graded.ref.study_uid)
    from kneeai.pacs.client import dataset_bytes
    from kneeai.store.trail import record_export

    record_export("dicom-sr+sc", dataset_bytes(sr) + dataset_bytes(sc), identifiers_included=True, user=user)
    return StoredObjects(str(sr.SOPInstanceUID), str(sc.SOPInstanceUID))


def film_records(graded: GradedFilm, lang: str = "en", stored: StoredObjects | None = None) -> list[dict]:
    """The JSON lines of one film: per knee what ``python -m kneeai grade --json`` prints, with the
    film's WADO-RS path as ``path``, its UIDs, and what was stored."""
    from kneeai.pipeline import knee_record

    extra: dict = {"study_uid": graded.ref.study_uid, "series_uid": graded.ref.series_uid,
                   "sop_instance_uid": graded.ref.sop_uid}
    if stored is not None:
        extra["stored"] = {"sr": stored.sr, "overlay": stored.overlay}
    if graded.error is not None:
        return [{"path": graded.ref.path, **extra, "error": graded.error.message(lang)}]
    if not graded.graded:
        from kneeai.pacs.errors import NoKneeFilm

        reason = graded.knees[0].error if graded.knees else NoKneeFilm(study=graded.ref.study_uid)
        return [{"path": graded.ref.path, **extra, "error": reason.message(lang)}]
    return [{**knee_record(graded.ref.path, k, lang), **extra} for k in graded.knees]
