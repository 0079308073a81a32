"""The one orchestration: film -> knees -> grade (+ gate) -> records.

Pages, the CLI (``grade``, ``report``, ``batch``) and the Python API all go through here, so a
film gives the same knees, boxes, sides and grades wherever it is opened.

- :func:`knees` finds every knee on a radiograph: a single-knee crop comes back whole; a film
  gives one box per knee, from the viewer's left, each centred on its joint.
- :func:`grade_radiographs` grades the knees of many films in batched network passes, one pass
  per knee (the out-of-distribution gate reads the same pass's features).
- :func:`iter_graded` streams files: decoding and cropping run ahead in a small thread pool while
  the network grades the knees already cut, in the order the files were given.
- :func:`summarize_film` runs the rest for every knee of a film: explanation, TKR risk and the
  :class:`~kneeai.schemas.PatientSummary` that reports and exports carry (``report``, ``batch``);
  :func:`knee_summary` is that summary for one knee graded already (the app's pages).
- :func:`save_visits` saves the graded knees of one image as visits of a patient.
- :func:`knee_record` is the JSON object per knee that ``python -m kneeai grade --json`` prints.

Every grading is noted in the audit trail by the function that grades, when the caller passes an
:class:`Audit` (who graded, on whose behalf); callers do not write the trail themselves.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kneeai.errors import KneeAIError
from kneeai.schemas import CropBox, Explanation, GradeResult, KneeCrop, Laterality, PatientSummary, Radiograph, RiskResult

__all__ = [
    "Audit",
    "ImageKind",
    "LateralitySource",
    "LocatedKnee",
    "GradedKnee",
    "GradedFile",
    "knees",
    "upright",
    "reads_negative",
    "film_view",
    "crop_on_film",
    "NUDGE",
    "NUDGES",
    "nudged_crops",
    "grade_radiographs",
    "grade_radiograph",
    "retry_as_film",
    "RETRY_AS_FILM_REASONS",
    "UserGrading",
    "grade_user_crops",
    "iter_graded",
    "knee_record",
    "grade_record",
    "box_xyxy",
    "gradings",
    "KneeSummary",
    "knee_summary",
    "summarize_film",
    "save_visits",
    "is_small_film",
]

ImageKind = Literal["auto", "crop", "film"]
# Where a knee's side came from, first found first: the DICOM header (ImageLaterality / Laterality,
# or the PatientOrientation that says which way the columns run), the R / L marker on the film
# (kneeai.grading.marker), its position on an AP/PA film (the patient's right knee on the viewer's
# left), its anatomy (the fibula on the lateral side, kneeai.imaging.side: a single knee whose film
# says nothing), or the user.
LateralitySource = Literal["dicom", "marker", "position", "anatomy", "user"]

# Gate reasons after which an image taken for one knee crop (by its size, ``kind="auto"``) is
# searched again as a film: a bilateral or single-knee film exported small (a 512-pixel viewer
# export) passes for a crop by its size, and its whole frame is unlike any knee crop. The film
# search's knees are gated in turn, so a picture that is no knee stays refused. Only refused
# crops, and accepted ones whose column profile shows two legs, pay for the search.
RETRY_AS_FILM_REASONS = frozenset({"gate.reason.not_knee", "gate.reason.screenshot"})
# ... when its longer side has at least this many pixels: on a smaller image each knee of a
# bilateral film would be under 150 pixels, and an archive of 224-pixel crops would pay a film
# search for every refused crop.
RETRY_AS_FILM_MIN_SIDE = 384

# Knees graded per network call when streaming files (several files' knees share a batch).
STREAM_BATCH_KNEES = 32
# Files decoded and cropped ahead of the network; bounds memory whatever the archive's size.
STREAM_AHEAD_FILES = 16


@dataclass(frozen=True)
class Audit:
    """Where the pipeline notes its gradings in the audit trail (:mod:`kneeai.store.trail`).

    subject : on whose behalf: a pseudonym, or the entry point ("cli", "batch", "archive").
    user : the signed-in user, if any.
    """

    subject: str | None = None
    user: str | None = None

    def record(self, pairs: Iterable[tuple[GradeResult, str]]) -> None:
        """Note ``(grade, input sha256)`` pairs in one transaction (each commit is an fsync)."""
        from kneeai.store.trail import record_gradings

        record_gradings(list(pairs), subject=self.subject, user=self.user)


def gradings(graded: Iterable[GradedKnee], input_sha256: str) -> list[tuple[GradeResult, str]]:
    """The audit trail's ``(grade, input sha256)`` pairs of the accepted knees in ``graded``."""
    return [(g.result, input_sha256) for g in graded if g.result is not None]


@dataclass(frozen=True)
class LocatedKnee:
    """One knee found on a radiograph.

    index : 1, 2, ... from the viewer's left.
    box : the crop's box in the film's pixels.
    neighbours : the knee cut from its box nudged (:func:`nudged_crops`), when :func:`knees` cut
        them along with the crop (on a film); None when they are still to be cut.
    """

    index: int
    crop: KneeCrop
    box: CropBox
    laterality: Laterality | None
    laterality_source: LateralitySource | None
    neighbours: tuple[KneeCrop, ...] | None = None


@dataclass(frozen=True)
class GradedKnee:
    """A located knee with its grade, or the error it was refused with."""

    knee: LocatedKnee
    result: GradeResult | None
    error: KneeAIError | None = None


@dataclass(frozen=True)
class GradedFile:
    """One input of :func:`iter_graded`: its knees, or the error that stopped it before grading."""

    path: str
    sha256: str
    knees: tuple[GradedKnee, ...]
    error: KneeAIError | None = None


def box_xyxy(box: CropBox) -> list[int]:
    """``[x0, y0, x1, y1]`` in the film's pixels (x1, y1 exclusive)."""
    return [int(box.left), int(box.top), int(box.left + box.width), int(box.top + box.height)]


def _side_source(rad: Radiograph, n_knees: int) -> LateralitySource | None:
    if rad.laterality is not None:
        return "dicom"
    if n_knees >= 2:
        return "dicom" if rad.meta.get("PatientOrientation") else "position"
    return None


def knees(rad: Radiograph, kind: ImageKind = "auto", grader=None) -> list[LocatedKnee]:
    """Every knee on ``rad``, from the viewer's left.

    kind : "crop" takes the image as one knee crop, "film" searches it for knees, "auto" decides
        from its size and shape (:func:`~kneeai.imaging.localize.is_single_knee`).

    A negative (bone dark) is searched turned back, since the joint scorer that centres the boxes
    knows knees only the usual way round, and its knees are marked ``inverted``. Which way round to
    search is read off the whole image (:func:`kneeai.grading.polarity.film_negative_probability`);
    where that was wrong, every knee found is itself a negative
    (:func:`upright`), and the image is searched the other way round.
    """
    from dataclasses import replace

    from kneeai.grading.polarity import NEGATIVE_THRESHOLD, film_negative_probability, negative_probability

    def negative(k: LocatedKnee) -> bool:  # turned by upright, or kept for its metal
        return k.crop.inverted or (negative_probability(k.crop.pixels) or 0.0) > NEGATIVE_THRESHOLD

    p = film_negative_probability(film_view(rad)[0].pixels)
    order = (True, False) if p is not None and p > 0.5 else (False, True)
    for is_turned in order:
        image = replace(rad, pixels=(1.0 - rad.pixels).astype(rad.pixels.dtype)) if is_turned else rad
        found = _located(image, kind, grader)
        if not found or not all(negative(k) for k in found):
            break
    # A knee is inverted when its crop was turned once: with the image, or on its own.
    return [k if not is_turned else
            replace(k, crop=replace(k.crop, inverted=not k.crop.inverted),
                    neighbours=None if k.neighbours is None else tuple(replace(n, inverted=not n.inverted) for n in k.neighbours))
            for k in found]


def _located(rad: Radiograph, kind: ImageKind, grader) -> list[LocatedKnee]:
    from dataclasses import replace

    from kneeai.grading.centre import crop_box, film_knee_boxes
    from kneeai.imaging.crop import crop_knee
    from kneeai.imaging.localize import is_single_knee

    if kind == "crop" or (kind == "auto" and is_single_knee(rad)):
        box = crop_box(rad, grader)  # the whole image when square
        said = None if rad.laterality else _marked(rad, [box])
        lat, source = (said[0], "marker") if said else (rad.laterality, "dicom")
        crop = upright(crop_knee(rad, box, lat, reflect_rows=True))
        return [_sided(LocatedKnee(1, crop, box, lat, source if lat else None), alone=True)]
    film, inner = film_view(rad)
    found = film_knee_boxes(film, grader)
    if found.header_overruled:
        # The header names one knee but the film plainly shows two: the sides are read off the film
        # (marker, position) instead of from a header that describes one of them.
        rad, film = replace(rad, laterality=None), replace(film, laterality=None)
    boxes = list(found.boxes)
    source = _side_source(rad, len(boxes))
    said = None if source == "dicom" else _marked(film, [b for b, _ in boxes])
    if said:
        boxes, source = [(b, lat) for (b, _), lat in zip(boxes, said)], "marker"
    out = []
    for i, (box, lat) in enumerate(boxes, start=1):
        on_film = CropBox(box.top + inner.top, box.left + inner.left, box.height, box.width)
        # The nudged copies are cut here, on the film view already made: in iter_graded that is in
        # the intake threads, beside the network, and the margins are not trimmed a second time.
        crop = upright(crop_knee(film, box, lat))
        out.append(_sided(LocatedKnee(i, _with_box(crop, on_film), on_film, lat, source if lat else None,
                                      tuple(_nudged(film, inner, box, lat, turn=crop.inverted))), alone=len(boxes) == 1))
    return out


def upright(crop: KneeCrop) -> KneeCrop:
    """``crop``, or, when it is a negative (bone dark, :mod:`kneeai.grading.polarity`), the crop
    turned back and marked ``inverted``; every knee the pipeline cuts passes through here.

    A crop with metal at the joint as it is stays as it is: a prosthesis's bright metal can make the
    network call a knee a negative (2 of 100 val knees with a painted-in prosthesis), and turned,
    the metal would go dark and the gate would no longer see it. The gate then flags it."""
    return _turned(crop) if reads_negative(crop.pixels) else crop


def reads_negative(pixels) -> bool:
    """Whether a knee crop (float, [0, 1]) is to be turned back before grading: the negative-image
    check reads it as a negative and it shows no metal at the joint (see :func:`upright`). The
    trainer asks the same of the training set's knees (``--turn-negatives``)."""
    from kneeai.grading.gate import shows_metal
    from kneeai.grading.polarity import NEGATIVE_THRESHOLD, negative_probability

    p = negative_probability(pixels)
    return p is not None and p > NEGATIVE_THRESHOLD and not shows_metal(pixels)


def _turned(crop: KneeCrop) -> KneeCrop:
    from dataclasses import replace

    import numpy as np

    return replace(crop, pixels=(1.0 - np.asarray(crop.pixels, np.float32)).astype(np.float32), inverted=True)


def _marked(rad: Radiograph, boxes: list[CropBox]) -> list[Laterality] | None:
    """The sides of the knees in ``boxes`` on ``rad`` as its R / L markers say, or None where the
    film has no marker that says (:func:`kneeai.grading.marker.sides_from_markers`)."""
    from kneeai.grading.marker import read_markers, sides_from_markers

    markers = read_markers(rad.pixels) if boxes else None
    return sides_from_markers(markers or [], [b.left + b.width / 2 for b in boxes])


def _sided(knee: LocatedKnee, alone: bool = False) -> LocatedKnee:
    """``knee`` with its side read from its anatomy when nothing else gave one.

    alone : the film's only knee. Its marker is then checked against its anatomy: where the two
        disagree (a film mirrored on export, or a letter misread), the side is left for the user
        to choose rather than guessed; a pair of knees has no such check (the anatomy, like the
        position, is fooled by a mirrored film, which is what the marker is there to catch)."""
    from kneeai.imaging.side import anatomical_side

    if knee.laterality is not None and not (alone and knee.laterality_source == "marker"):
        return knee
    lat = anatomical_side(knee.crop.pixels)
    if knee.laterality is not None:
        return knee if lat in (None, knee.laterality) else _with_side(knee, None, None)
    return knee if lat is None else _with_side(knee, lat, "anatomy")


def _with_side(knee: LocatedKnee, lat: Laterality | None, source: LateralitySource | None) -> LocatedKnee:
    from dataclasses import replace

    neighbours = None if knee.neighbours is None else tuple(replace(n, laterality=lat) for n in knee.neighbours)
    return replace(knee, crop=replace(knee.crop, laterality=lat), laterality=lat, laterality_source=source,
                   neighbours=neighbours)


def _with_box(crop: KneeCrop, box: CropBox) -> KneeCrop:
    from dataclasses import replace

    return replace(crop, box=box)


def film_view(rad: Radiograph) -> tuple[Radiograph, CropBox]:
    """The film the knees are found and cut on: ``rad`` without its blank margins
    (:mod:`kneeai.imaging.border`), and where that lies on ``rad``."""
    from dataclasses import replace

    from kneeai.imaging.border import content_box

    inner = content_box(rad.pixels)
    if inner == CropBox(0, 0, *rad.shape):
        return rad, inner
    return replace(rad, pixels=rad.pixels[inner.top : inner.top + inner.height, inner.left : inner.left + inner.width]), inner


def crop_on_film(rad: Radiograph, box: CropBox, laterality: Laterality | None) -> KneeCrop:
    """The crop of ``box`` (in ``rad``'s pixels, e.g. a box the user moved) cut exactly as
    :func:`knees` cuts its own boxes: on the film without its blank margins."""
    from kneeai.imaging.crop import crop_knee

    film, inner = film_view(rad)
    inside = CropBox(box.top - inner.top, box.left - inner.left, box.height, box.width)
    return _with_box(upright(crop_knee(film, inside, laterality)), box)


# A knee cut from a larger film is graded as the mean over its box and eight copies nudged this share
# of the box's side along rows, columns and both (a 3 x 3 grid). The box is the pipeline's estimate:
# on knee-films-dev a 10% black border around the same film moved boxes by under 2% of a side for
# half the knees, and 8% of those changed grade, although every knee keeps its grade when cut from
# exactly the same box. Averaged over the grid, the grade moves less with where the box lands:
# same grade under half size 0.864 -> 0.924, a 10% border 0.872 -> 0.968 (docs/film_path.md).
NUDGE = 0.05
NUDGES = tuple((r, c) for r in (-1, 0, 1) for c in (-1, 0, 1) if (r, c) != (0, 0))


def nudged_crops(rad: Radiograph, boxes: list[tuple[CropBox | None, Laterality | None]]) -> list[list[KneeCrop]]:
    """For each (box, side) on ``rad``, the knee cut from its box moved by :data:`NUDGES` steps of
    :data:`NUDGE` of a side (rounded to whole pixels of the model input), cut as :func:`knees` cuts
    (on the film without its blank margins); none for a box that is the whole image (a knee crop
    taken as given) or no box."""
    whole = CropBox(0, 0, *rad.shape)
    if all(box is None or box == whole for box, _ in boxes):
        return [[] for _ in boxes]
    film, inner = film_view(rad)
    return [[] if box is None or box == whole else
            _nudged(film, inner, CropBox(box.top - inner.top, box.left - inner.left, box.height, box.width), lat)
            for box, lat in boxes]


def _nudged(film: Radiograph, inner: CropBox, box: CropBox, lat: Laterality | None,
            turn: bool | None = None) -> list[KneeCrop]:
    """:func:`nudged_crops` of ``box`` on ``film`` (the film view at ``inner`` of the whole film),
    with their boxes in the whole film's pixels.

    turn : whether the knee's own crop was turned back (:func:`upright`): its copies follow it,
        without a network pass each; None asks of each copy."""
    from kneeai.config import SETTINGS
    from kneeai.imaging.crop import shifted_crops

    step = max(1, round(NUDGE * SETTINGS.input_size))
    cut = shifted_crops(film, box, step, NUDGES, lat)
    cut = [upright(c) for c in cut] if turn is None else [_turned(c) for c in cut] if turn else cut
    return [_with_box(c, CropBox(c.box.top + inner.top, c.box.left + inner.left, box.height, box.width)) for c in cut]


def grade_radiographs(items: Iterable[tuple[Radiograph, list[LocatedKnee]]], *, grader=None,
                      allow_outside_use: bool = False, prechecks: list[list] | None = None,
                      kind: ImageKind | None = None) -> list[list[GradedKnee]]:
    """Gate and grade the located knees of several films in one batched pass.

    prechecks : per film, its knees' :func:`~kneeai.grading.gate.precheck` results, when the
        caller computed them already (:func:`iter_graded` does, in its intake threads).
    kind : how the knees were located; with "auto", an image taken for one knee crop that was
        refused as unlike a knee, or that shows two legs, is searched again as a film
        (:func:`retry_as_film`).
    """
    from kneeai.grading.predict import grade_knees

    items = list(items)
    crops = [k.crop for _, ks in items for k in ks]
    films = [rad for rad, ks in items for _ in ks]
    flat = [pc for per_film in prechecks for pc in per_film] if prechecks is not None else None
    neighbours = [ns for rad, ks in items for ns in _neighbours(rad, ks)]
    results = iter(grade_knees(crops, films, grader=grader, allow_outside_use=allow_outside_use, prechecks=flat,
                               neighbours=neighbours))
    out = []
    for _, ks in items:
        graded = []
        for k in ks:
            r = next(results)
            graded.append(GradedKnee(k, None, r) if isinstance(r, KneeAIError) else GradedKnee(k, r))
        out.append(graded)
    if kind == "auto":
        out = [retry_as_film(rad, graded, grader=grader, allow_outside_use=allow_outside_use) or graded
               for (rad, _), graded in zip(items, out)]
    return out


def _neighbours(rad: Radiograph, ks: list[LocatedKnee]) -> list[list[KneeCrop]]:
    """Each knee's nudged copies: as :func:`knees` cut them, else cut now (:func:`nudged_crops`)."""
    todo = [k for k in ks if k.neighbours is None]
    cut = iter(nudged_crops(rad, [(k.box, k.laterality) for k in todo]) if todo else [])
    return [next(cut) if k.neighbours is None else list(k.neighbours) for k in ks]


def retry_as_film(rad: Radiograph, graded: list[GradedKnee], *, grader=None,
                  allow_outside_use: bool = False) -> list[GradedKnee] | None:
    """``rad``'s knees found and graded as on a film, when ``graded`` is ``rad`` (of at least
    :data:`RETRY_AS_FILM_MIN_SIDE` pixels) taken whole for one knee crop and either refused for a
    reason in :data:`RETRY_AS_FILM_REASONS` while the film search finds a knee the gate accepts, or
    accepted although it shows two legs side by side while the film search finds two knees the gate
    accepts (a bilateral film exported small is not one knee); otherwise None (the crop stands)."""
    from kneeai.imaging.localize import is_single_knee, shows_two_legs

    if len(graded) != 1 or max(rad.shape) < RETRY_AS_FILM_MIN_SIDE or not is_single_knee(rad):
        return None
    error = graded[0].error
    refused = error is not None and getattr(error, "params", {}).get("detail_key") in RETRY_AS_FILM_REASONS
    if not refused and (error is not None or not shows_two_legs(film_view(rad)[0])):
        return None
    try:
        found = knees(rad, "film", grader)
    except KneeAIError:
        return None
    again = grade_radiographs([(rad, found)], grader=grader, allow_outside_use=allow_outside_use)[0]
    accepted = [g for g in again if g.error is None]
    if refused:
        return again if accepted else None
    return again if len(again) >= 2 and len(accepted) == len(again) else None


def is_small_film(rad: Radiograph, crop: KneeCrop, result: GradeResult | None, error: KneeAIError | None, *,
                  grader=None) -> bool:
    """Whether ``rad``, graded whole as the one knee ``crop`` (to ``result`` or refused with
    ``error``), is a film exported small whose knees the gate accepts (:func:`retry_as_film`): the
    Grade page then offers to take it as a film."""
    whole = [GradedKnee(LocatedKnee(1, crop, crop.box, crop.laterality, None), result, error)]
    return retry_as_film(rad, whole, grader=grader) is not None


def grade_radiograph(rad: Radiograph, *, kind: ImageKind = "auto", allow_outside_use: bool = False,
                     grader=None, audit: Audit | None = None) -> list[GradedKnee]:
    """Every knee of one film, graded (refused knees carry their error); the accepted ones are
    noted in ``audit``'s trail."""
    graded = grade_radiographs([(rad, knees(rad, kind, grader))], grader=grader, allow_outside_use=allow_outside_use,
                               kind=kind)[0]
    if audit is not None:
        audit.record(gradings(graded, rad.sha256))
    return graded


@dataclass(frozen=True)
class UserGrading:
    """The crops a user placed, graded: results and refusals by crop index, and the audit trail's
    error if recording failed (the grades stand; the page says the trail could not be written)."""

    results: dict[int, GradeResult]
    errors: dict[int, KneeAIError]
    audit_error: KneeAIError | None = None


def grade_user_crops(crops: list[KneeCrop], radiograph: Radiograph | None, *, allow_outside_use: bool = False,
                     grader=None, audit: Audit | None = None) -> UserGrading:
    """Gate and grade the crops a user placed on ``radiograph`` in one batched pass, and note
    every grading in ``audit``'s trail (saved as a visit or not) in one transaction."""
    from kneeai.grading.predict import grade_knees

    try:
        neighbours = (nudged_crops(radiograph, [(c.box, c.laterality) for c in crops]) if radiograph is not None
                      else None)
        out = grade_knees(crops, [radiograph] * len(crops), grader=grader, allow_outside_use=allow_outside_use,
                          neighbours=neighbours)
    except KneeAIError as exc:  # nothing could be graded (e.g. the weights fail their check)
        return UserGrading({}, {i: exc for i in range(len(crops))})
    results = {i: r for i, r in enumerate(out) if isinstance(r, GradeResult)}
    errors = {i: r for i, r in enumerate(out) if not isinstance(r, GradeResult)}
    try:
        if audit is not None:
            audit.record((results[i], crops[i].source_sha256) for i in sorted(results))
    except KneeAIError as exc:
        return UserGrading(results, errors, exc)
    return UserGrading(results, errors)


def _prepare(path: Path | str, kind: ImageKind, grader, reader=None) -> tuple[Radiograph, list[LocatedKnee], list]:
    """Decode, find the knees, and run the gate's image checks: everything before the network."""
    from kneeai.grading.gate import precheck
    from kneeai.io import load_radiograph

    rad = reader(path) if reader is not None else load_radiograph(path)
    ks = knees(rad, kind, grader)
    return rad, ks, [precheck(k.crop, rad) for k in ks]


def iter_graded(paths: Iterable[Path], *, kind: ImageKind = "auto", allow_outside_use: bool = False, grader=None,
                workers: int = 2, batch_knees: int = STREAM_BATCH_KNEES,
                ahead: int = STREAM_AHEAD_FILES, reader: Callable[[str], Radiograph] | None = None,
                audit: Audit | None = None) -> Iterator[GradedFile]:
    """Grade files as a stream, in input order, batching knees across files; each batch's
    accepted knees are noted in ``audit``'s trail in one transaction before they are yielded.

    Decoding and cropping run in ``workers`` threads up to ``ahead`` files in front of the
    network, so memory stays bounded; results come out as soon as their batch is graded.
    ``reader`` turns each item into a Radiograph (default: read it as a file path); the archive
    passes one that also pulls PACS instances (:func:`kneeai.pacs.query.read_source`).
    """
    from kneeai.grading.weights import load_grader

    grader = grader or load_grader()
    it = iter(paths)
    pending: deque[tuple[Path, Future]] = deque()
    ready: list[tuple[Path, Radiograph | None, list[LocatedKnee], list, KneeAIError | None]] = []

    def flush() -> Iterator[GradedFile]:
        ok = [(rad, ks) for _, rad, ks, _, err in ready if err is None]
        pre = [pc for _, _, _, pc, err in ready if err is None]
        graded = iter(grade_radiographs(ok, grader=grader, allow_outside_use=allow_outside_use, prechecks=pre, kind=kind))
        files = [GradedFile(str(path), "", (), err) if err is not None else GradedFile(str(path), rad.sha256, tuple(next(graded)))
                 for path, rad, _, _, err in ready]
        ready.clear()
        if audit is not None:
            audit.record(pair for f in files for pair in gradings(f.knees, f.sha256))
        yield from files

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="kneeai-intake") as pool:
        def top_up() -> None:
            while len(pending) < ahead:
                p = next(it, None)
                if p is None:
                    return
                pending.append((p, pool.submit(_prepare, p if reader is not None else Path(p), kind, grader, reader)))

        top_up()
        n_knees = 0
        while pending:
            path, fut = pending.popleft()
            top_up()
            try:
                rad, ks, pc = fut.result()
                ready.append((path, rad, ks, pc, None))
                n_knees += len(ks)
            except KneeAIError as exc:
                ready.append((path, None, [], [], exc))
            if n_knees >= batch_knees or not pending:
                yield from flush()
                n_knees = 0


@dataclass(frozen=True)
class KneeSummary:
    """One knee of a film, summarised (or the error it was refused with)."""

    knee: LocatedKnee
    summary: PatientSummary | None
    error: KneeAIError | None = None


def summarize_film(rad: Radiograph, clinical: dict | None = None, *, pseudonym: str, visit_date=None,
                   override: tuple[int, str] | None = None, override_knee: int | None = None,
                   include_identifiers: bool = False, lang: str = "en", explain_method: str | None = "gradcam",
                   kind: ImageKind = "auto", grader=None, audit: Audit | None = None) -> list[KneeSummary]:
    """Grade, explain and risk-score every knee of ``rad``; one summary per knee, from the
    viewer's left, all under ``pseudonym`` (one patient). The gradings are noted in ``audit``'s
    trail.

    override : the clinician's ``(grade, reason)`` for knee ``override_knee`` (the only knee
        when the film has one). Clinical values outside the accepted ranges raise
        :class:`~kneeai.errors.InvalidClinicalInput`.
    """
    from kneeai.explain import explain
    from kneeai.report.summary import CLINICAL_FIELDS, risk_input
    from kneeai.survival.risk import predict_risk

    has_clinical = bool(clinical) and any(clinical.get(k) not in (None, "") for k in CLINICAL_FIELDS)
    graded = grade_radiograph(rad, kind=kind, grader=grader, audit=audit)
    out: list[KneeSummary] = []
    for g in graded:
        if g.error is not None:
            out.append(KneeSummary(g.knee, None, g.error))
            continue
        mine = override if override is not None and override_knee in (None, g.knee.index) else None
        inputs = risk_input(clinical, g.result, mine) if has_clinical else None
        explanation = explain(g.knee.crop, g.result, method=explain_method) if explain_method else None
        risk = predict_risk(inputs) if inputs is not None else None
        out.append(KneeSummary(g.knee, knee_summary(
            g.knee.crop, g.result, pseudonym=pseudonym, visit_date=visit_date, explanation=explanation, risk=risk,
            override=mine, identifiers=rad.identifiers, include_identifiers=include_identifiers, lang=lang)))
    return out


def knee_summary(crop: KneeCrop, grade: GradeResult, *, pseudonym: str, visit_date=None,
                 explanation: Explanation | None = None, risk: RiskResult | None = None,
                 override: tuple[int, str] | None = None, identifiers: dict[str, str] | None = None,
                 include_identifiers: bool = False, lang: str = "en") -> PatientSummary:
    """The summary of one knee graded already: what :func:`summarize_film` gives per knee, and
    what the app's Patient, Consultation and Export pages show and export. ``risk`` should have
    been computed with the override's grade when there is one
    (:func:`~kneeai.report.summary.risk_with_override`)."""
    from kneeai.report.summary import build_summary

    return build_summary(pseudonym=pseudonym, visit_date=visit_date, laterality=crop.laterality, grade=grade,
                         explanation=explanation, risk=risk, crop_pixels=crop.pixels, override=override,
                         identifiers=identifiers, include_identifiers=include_identifiers, lang=lang,
                         inverted=crop.inverted)


def save_visits(patient_id: int, visit_date, knees: list[tuple[KneeCrop, GradeResult, Explanation | None]], *,
                focus: int = 0, risk: RiskResult | None = None, override: tuple[int, str] | None = None,
                clinical: dict | None = None, input_sha256: str = "", user: str | None = None) -> list[int]:
    """Save every graded knee of one image as a visit of ``patient_id``; returns the visit ids,
    the focused knee's first.

    The TKR risk, the clinician's override and the clinical values were given for the knee in
    focus (``knees[focus]``), so they are saved with that visit only; every visit keeps its crop,
    grade and heatmap. ``input_sha256`` stands in for a crop that does not know its file.
    """
    from kneeai.store.codec import encode_png
    from kneeai.store.registry import save_visit

    order = sorted(range(len(knees)), key=lambda i: i != focus)
    ids = []
    for i in order:
        crop, grade, expl = knees[i]
        mine = i == focus
        ids.append(save_visit(
            patient_id, visit_date, crop.laterality, crop.source_sha256 or input_sha256, encode_png(crop.pixels), grade,
            risk if mine else None, override if mine else None, dict(clinical or {}) if mine else None,
            mm_per_pixel=crop.mm_per_pixel, heatmap_png=encode_png(expl.heatmap) if expl is not None else None,
            inverted=crop.inverted, user=user))
    return ids


def grade_record(r: GradeResult) -> dict:
    """The grade's part of a knee's JSON record."""
    rec = {
        "kl_grade": r.kl_grade,
        "probabilities": [round(p, 6) for p in r.probabilities],
        "expected_grade": round(r.expected_grade, 6),
        "uncertainty": {k: round(v, 6) for k, v in r.uncertainty.items()},
        "model": {"id": r.model.model_id, "sha256": r.model.sha256, "placeholder": r.model.placeholder},
    }
    if r.outside_validated_use:
        rec["outside_validated_use"] = True
    return rec


def knee_record(path: str, graded: GradedKnee, lang: str = "en",
                message: Callable[[KneeAIError, str], str] | None = None) -> dict:
    """The JSON object for one knee: ``path`` exactly as given, the ``knee`` (index, laterality,
    its source, box ``[x0, y0, x1, y1]``), then the grade or the ``error`` in ``lang``."""
    k = graded.knee
    rec: dict = {"path": path, "knee": {"index": k.index, "laterality": k.laterality,
                                        "laterality_source": k.laterality_source, "box": box_xyxy(k.box)}}
    if k.crop.inverted:  # the image was a negative, turned back before grading
        rec["knee"]["inverted"] = True
    if graded.error is not None:
        rec["error"] = message(graded.error, lang) if message else graded.error.message(lang)
        return rec
    assert graded.result is not None
    rec.update(grade_record(graded.result))
    return rec
