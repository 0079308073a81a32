"""Centre a knee box on the joint, using a learned density of joint-centred knee crops.

The film localiser (:mod:`kneeai.imaging.localize`) finds legs and a joint line from intensity
profiles; on films from other sites it can land a box above or below the joint. The joint scorer
(:mod:`kneeai.grading.joint_scorer`, a grading network trained on joint-centred crops) holds a
density of its features for such crops. So a box is moved to where its crop looks most like those:
the score is read on a grid of vertical and horizontal shifts (the side columns only for the best
rows, :data:`SIDE_ROWS`), and the box goes to the grid's soft minimum: the mean of the shifts
weighted by exp(-(score - best score) / CENTRE_TEMPERATURE). The box keeps its size (set from the
pixel spacing or the leg width).

Why a soft minimum, not the best grid point or a fitted vertex: single scores are noisy, and near
the joint the score is a shallow valley with several dips. On the same film resampled (half size, a
black border) the best grid point often jumped a whole step; a parabola through the best rows (the
previous rule) still jumped between dips. The weighted mean moves smoothly as the scores change.
On the 250 knees of knee-films-dev, from the same cached score grids, the 90th percentile of the
box's offset between a film and its half-size copy fell from 0.127 to 0.067 box sides and with a
10% border from 0.074 to 0.038, while the score at the chosen box rose only from 0.675 to 0.696
(the start box: 0.789) (docs/film_path.md, step 4 and the centring-rule table).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kneeai.grading.joint_scorer import joint_scoring
from kneeai.imaging.crop import crop_knee
from kneeai.imaging.localize import is_single_knee
from kneeai.imaging.localize import fit_on_film, guess_knee_boxes, with_sides
from kneeai.schemas import CropBox, Laterality, Radiograph

__all__ = ["CentredBox", "FilmKnees", "centre_on_joint", "centred_knee_boxes", "film_knee_boxes", "detector_boxes", "AGREE_WITHIN", "search_leg", "crop_box", "WIDE_KNEE_RATIO", "shows_two_knees", "ROW_SHIFTS", "COL_SHIFTS",
           "CENTRE_TEMPERATURE", "SIDE_ROWS", "soft_minimum", "PAIR_MAX_ROW_OFFSET", "WIDE_SEARCH_ABOVE", "WIDE_SEARCH_STEP", "row_offset"]

# Row and column shifts as fractions of the box side. The joint line is the localiser's main
# uncertainty, so rows are searched further than columns.
ROW_SHIFTS = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)
COL_SHIFTS = (-0.1, 0.0, 0.1)
# Side columns are scored only for this many of the best rows: a shift whose row scores far above
# the best has almost no weight in the soft minimum, and scoring its columns cost 8 of the grid's
# 21 network passes a knee (docs/film_path.md, step 4).
SIDE_ROWS = 3
# How far above the grid's best score (in multiples of the gate threshold, as the scores are) a
# shift still pulls the box: at 0.1, a shift scoring 0.1 worse weighs e^-1 of the best. 0.05 kept
# half-size p90 at 0.103, 0.2 gave 0.042 but left the box further from the best score (0.716).
CENTRE_TEMPERATURE = 0.1


@dataclass(frozen=True)
class CentredBox:
    box: CropBox
    moved: bool
    # Density scores as multiples of the gate threshold (None without a fitted gate).
    score_before: float | None
    score_after: float | None


def _shifted(rad: Radiograph, box: CropBox, shifts) -> list[CropBox]:
    s = box.height
    return [fit_on_film(rad, CropBox(box.top + int(round(r * s)), box.left + int(round(c * s)), box.height, box.width))
            for r, c in shifts]


def _scores(rad: Radiograph, boxes: list[CropBox], laterality, grader, density, view: "_View | None" = None) -> np.ndarray:
    from kneeai.grading.gate import features

    crops = [(view.crop(b) if view is not None else None) for b in boxes]
    crops = [c if c is not None else crop_knee(rad, b, laterality).pixels for c, b in zip(crops, boxes)]
    return density.distance2(features(grader, crops)) / density.threshold


# Margins of the search view around the start box, in box sides: the shifts reach 0.3 of a side
# in rows and 0.1 in columns.
VIEW_MARGIN = (0.5, 0.3)


class _View:
    """The film around a start box, resampled once so that a box of its size is the network's side.

    Each candidate box is then a slice of it instead of its own resampling of the film (which cost
    more than a third of the search on 1024-pixel films). A slice lands within half a resampled
    pixel of where :func:`crop_knee` would cut; the box finally chosen is cut by ``crop_knee`` itself,
    so the crop that is graded is exactly the one the user sees.
    """

    def __init__(self, rad: Radiograph, box: CropBox, size: int):
        from kneeai.imaging.crop import resample_region

        my, mx = int(np.ceil(VIEW_MARGIN[0] * box.height)), int(np.ceil(VIEW_MARGIN[1] * box.width))
        self.top, self.left = box.top - my, box.left - mx
        self.sy, self.sx = size / box.height, size / box.width
        region = CropBox(self.top, self.left, box.height + 2 * my, box.width + 2 * mx)
        out_h, out_w = int(round(region.height * self.sy)), int(round(region.width * self.sx))
        self.pixels = resample_region(rad, region, (out_h, out_w))
        self.size, self.box_shape = size, (box.height, box.width)

    def crop(self, box: CropBox) -> np.ndarray | None:
        if (box.height, box.width) != self.box_shape:
            return None
        r, c = int(round((box.top - self.top) * self.sy)), int(round((box.left - self.left) * self.sx))
        if r < 0 or c < 0 or r + self.size > self.pixels.shape[0] or c + self.size > self.pixels.shape[1]:
            return None
        return self.pixels[r : r + self.size, c : c + self.size]


def soft_minimum(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 temperature: float = CENTRE_TEMPERATURE) -> tuple[float, float]:
    """The (row, column) shift that is the mean of the grid's shifts weighted by
    exp(-(score - lowest score) / temperature); ``scores`` is rows x columns, inf where a shift was
    not scored (it then has no weight)."""
    w = np.exp(-(np.asarray(scores, float) - np.min(scores)) / temperature)
    w /= w.sum()
    return float(w.sum(1) @ np.asarray(rows, float)), float(w.sum(0) @ np.asarray(cols, float))


def centre_on_joint(rad: Radiograph, box: CropBox, laterality: Laterality | None = None, grader=None,
                    density=None) -> CentredBox:
    """Move ``box`` (same size) to where its crop looks most like a joint-centred knee crop."""
    if density is None:
        grader, density = joint_scoring(grader)
    if density is None:  # no fitted density for this grader: nothing to centre with
        return CentredBox(box, False, None, None)
    view = _View(rad, box, grader.input_size)
    rows, cols = np.array(ROW_SHIFTS), np.array(COL_SHIFTS)
    grid = _shifted(rad, box, [(r, c) for r in rows for c in cols])
    by_rows = [grid[i * len(cols) : (i + 1) * len(cols)] for i in range(len(rows))]
    middle = list(COL_SHIFTS).index(0.0)
    scored: dict[CropBox, float] = {}

    def score(boxes: list[CropBox]) -> None:
        # Shifts clamped at the film's edge land on one box: each distinct box is scored once.
        todo = [b for b in dict.fromkeys(boxes) if b not in scored]
        if todo:
            scored.update(zip(todo, map(float, _scores(rad, todo, laterality, grader, density, view))))

    # The rows first, in the start box's column; then the side columns of the best rows only.
    score([row[middle] for row in by_rows])
    best_rows = np.argsort([scored[row[middle]] for row in by_rows], kind="stable")[:SIDE_ROWS]
    score([b for i in best_rows for b in by_rows[i]])
    # A shift left unscored has no weight in the soft minimum.
    scores = np.array([scored.get(b, np.inf) for b in grid]).reshape(len(rows), len(cols))
    start = float(scores[list(ROW_SHIFTS).index(0.0), middle])
    row, col = soft_minimum(scores, rows, cols)
    (moved,) = _shifted(rad, box, [(row, col)])
    if moved == box:
        return CentredBox(box, False, start, start)
    # The box moves even when its own score is a little higher than the start box's: that check
    # made near-equal boxes move on one copy of a film and stay on another (see module docstring).
    after = scored[moved] if moved in scored else float(_scores(rad, [moved], laterality, grader, density, view)[0])
    return CentredBox(moved, True, start, after)


# The two knees of a bilateral AP/PA film stand at about the same height: joint centres further
# apart than this share of the box side mean one box is on a shaft or a condyle, not the joint.
# On knee-films-dev, the 16 of 96 bilateral films past 0.3 held 14 of the 26 refused knees.
PAIR_MAX_ROW_OFFSET = 0.25


def row_offset(a: CropBox, b: CropBox) -> float:
    """How far apart two boxes' centres stand vertically, in mean box sides."""
    return abs((a.top + a.height / 2) - (b.top + b.height / 2)) / ((a.height + b.height) / 2)


def _pair_consistent(rad: Radiograph, found: list[CentredBox], lats, grader, density) -> list[CentredBox]:
    """Search again, from its partner's height, for the knee of a bilateral film whose box stands
    far above or below the other's; keep whichever box looks more like a joint-centred crop."""
    a, b = found
    if a.score_after is None or b.score_after is None or row_offset(a.box, b.box) <= PAIR_MAX_ROW_OFFSET:
        return found
    worse = 0 if a.score_after > b.score_after else 1
    bad, anchor = found[worse], found[1 - worse]
    centre_row = anchor.box.top + anchor.box.height / 2
    start = fit_on_film(rad, CropBox(int(round(centre_row - bad.box.height / 2)), bad.box.left, bad.box.height, bad.box.width))
    again = centre_on_joint(rad, start, lats[worse], grader, density)
    if again.score_after is not None and again.score_after < bad.score_after:
        out = list(found)
        out[worse] = CentredBox(again.box, True, bad.score_before, again.score_after)
        return out
    return found


# A centred box that still scores above this multiple of the density's threshold (its crop would be
# refused as unlike a knee) is searched for along the whole height of its leg: on long-leg films the
# row profile's joint line can fall on the tibial shaft or the ankle, further than the local search
# reaches. On knee-films-dev it moved 17 of 250 knees, from the tibial shaft, the ankle or the
# condyles onto the joint line (each checked by eye; docs/film_path.md).
WIDE_SEARCH_ABOVE = 1.0
# Rows tried by that search, in box sides between two candidates.
WIDE_SEARCH_STEP = 0.2


def search_leg(rad: Radiograph, found: CentredBox, laterality: Laterality | None, grader, density) -> CentredBox:
    """``found``'s box slid over the whole film height in its column, the best-scoring row centred
    on its joint; ``found`` itself when that is no better."""
    box = found.box
    s = box.height
    step = max(1, int(round(WIDE_SEARCH_STEP * s)))
    rows = range(-s // 4, rad.shape[0] - s + s // 4 + 1, step)
    candidates = list(dict.fromkeys(fit_on_film(rad, CropBox(r, box.left, s, box.width)) for r in rows))
    scores = _scores(rad, candidates, laterality, grader, density)
    # Centred from the best row (it stays put when no shift scores better).
    again = centre_on_joint(rad, candidates[int(np.argmin(scores))], laterality, grader, density)
    if found.score_after is None or again.score_after is None or again.score_after >= found.score_after:
        return found
    return CentredBox(again.box, True, found.score_before, again.score_after)


def centred_knee_boxes(rad: Radiograph, as_film: bool = False, grader=None) -> list[tuple[CropBox, Laterality | None]]:
    """Every knee of a film, its box centred on the joint; a single-knee image comes back whole
    (:func:`film_knee_boxes` for a film)."""
    if is_single_knee(rad) and not as_film:
        return guess_knee_boxes(rad)
    return list(film_knee_boxes(rad, grader).boxes)


@dataclass(frozen=True)
class FilmKnees:
    """The knees found on a film, from the viewer's left, each with the side its header or position gave."""
    boxes: tuple[tuple[CropBox, Laterality | None], ...]
    # The header named one knee, but the film plainly shows two (:func:`shows_two_knees`): both were
    # searched for, and their sides are to be read off the film, not from the header.
    header_overruled: bool = False


def film_knee_boxes(rad: Radiograph, grader=None) -> FilmKnees:
    """Every knee of a film, its box centred on the joint.

    The knees are proposed twice: by the intensity profiles (:func:`~kneeai.imaging.localize.guess_knee_boxes`)
    and by the learned detector (:mod:`kneeai.grading.detector`). Where the two agree (as many
    knees, each detected centre within :data:`AGREE_WITHIN` of a side of a profile box), the
    profiles' boxes are centred, as before the detector; where they disagree, both sets are centred
    and the joint scorer chooses (:func:`_better`).

    A header that names one knee (ImageLaterality or Laterality R or L) limits both proposals to one
    knee, unless the film plainly shows two: a bilateral film filed under a one-knee order, or a
    series-level Laterality. The detector runs once for both questions.
    """
    from kneeai.grading.detector import detect_knees

    found = detect_knees(rad.pixels)
    overruled = rad.laterality is not None and _two_knees(rad, found)
    if overruled:
        rad = replace(rad, laterality=None)
    grader, density = joint_scoring(grader)
    profiles = guess_knee_boxes(rad, as_film=True)
    chosen = _centred(rad, profiles, grader, density)
    detected = detector_boxes(rad, found=found)
    if detected and not _agree(profiles, detected):
        chosen = _better(chosen, _centred(rad, detected, grader, density))
    return FilmKnees(tuple((c.box, lat) for c, lat in chosen), overruled)


def _centred(rad: Radiograph, guesses, grader, density) -> list[tuple[CentredBox, Laterality | None]]:
    """Each start box centred on its joint (searched along its leg when the local search finds no
    joint, :data:`WIDE_SEARCH_ABOVE`), and the two of a bilateral film at one height
    (:data:`PAIR_MAX_ROW_OFFSET`)."""
    found = [centre_on_joint(rad, box, lat, grader, density) for box, lat in guesses]
    found = [search_leg(rad, c, lat, grader, density) if c.score_after is not None and c.score_after > WIDE_SEARCH_ABOVE
             else c for c, (_, lat) in zip(found, guesses)]
    lats = [lat for _, lat in guesses]
    if len(found) == 2:
        found = _pair_consistent(rad, found, lats, grader, density)
    return list(zip(found, lats))


# The detector agrees with the profiles when it finds as many knees, each within this share of its
# box side of a profile box's centre: the local search (rows within 0.3 of a side) reaches from one
# to the other.
AGREE_WITHIN = 0.35


def _agree(profiles, detected) -> bool:
    if len(profiles) != len(detected):
        return False
    for box, _ in detected:
        cy, cx = box.top + box.height / 2, box.left + box.width / 2
        if not any(np.hypot(p.top + p.height / 2 - cy, p.left + p.width / 2 - cx) <= AGREE_WITHIN * box.height
                   for p, _ in profiles):
            return False
    return True


def _better(a: list[tuple[CentredBox, Laterality | None]], b: list[tuple[CentredBox, Laterality | None]]):
    """Of two sets of centred knees, the one the joint scorer finds more knee-like: a set with a
    knee it would refuse (above :data:`WIDE_SEARCH_ABOVE`) loses to one without; then more knees
    win (a second knee the scorer accepts is a knee); then the lower mean score. Without scores
    (no density fitted) the first set is kept."""
    def key(s):
        scores = [c.score_after for c, _ in s]
        if any(x is None for x in scores):
            return None
        return (any(x > WIDE_SEARCH_ABOVE for x in scores), -len(s), float(np.mean(scores)))

    if not b:
        return a
    ka, kb = key(a), key(b)
    if ka is None or kb is None:
        return a
    return b if kb < ka else a


def shows_two_knees(rad: Radiograph) -> bool:
    """Whether a film plainly shows two knees: the learned detector finds two and the column profile
    two legs of comparable width. On knee-films-dev the two agreed on every film (96 bilateral, 58
    single-knee films; no single-knee film gave either two detections or two legs)."""
    from kneeai.grading.detector import detect_knees

    return _two_knees(rad, detect_knees(rad.pixels))


def _two_knees(rad: Radiograph, found) -> bool:
    from kneeai.imaging.localize import shows_two_legs

    return found is not None and len(found) >= 2 and shows_two_legs(rad)


def detector_boxes(rad: Radiograph, found=None) -> list[tuple[CropBox, Laterality | None]] | None:
    """The knees the learned detector finds on a film (:mod:`kneeai.grading.detector`), as start boxes
    with their sides, or None without a shipped detector.

    found : the detections of ``rad`` where the caller already has them."""
    from kneeai.grading.detector import detect_knees

    if found is None:
        found = detect_knees(rad.pixels)
    if found is None:
        return None
    if rad.laterality is not None and rad.meta.get("ImageLaterality", "").upper() != "B":
        found = found[:1]  # the header names one knee: the detector's best
    return with_sides(rad, [fit_on_film(rad, d.box()) for d in found])


# Sides tried for a crop that is not square, as fractions between its short and long side.
CROP_SIDES = (0.0, 0.5, 1.0)
# ... of those, only squares at most this share padding (edge pixels past the crop's short side):
# on 1.85:1 crops 162 px high, the long side's square (46% padding) sometimes scored best and was
# then refused as a screenshot or not a knee (bench crops: 9 of 250 refused, all on squares
# padded 23-46%).
MAX_CROP_PADDING = 0.25


# A wide crop whose knee the detector reads at least this much wider than the crop is high was cut
# tight above and below the joint: it is graded as a square of the knee's width (docs/film_path.md).
WIDE_KNEE_RATIO = 1.15


def crop_box(rad: Radiograph, grader=None) -> CropBox:
    """The square box to grade an image that is already one knee crop (cut with
    ``crop_knee(..., reflect_rows=True)``).

    A square crop is itself. A wide crop in which the knee detector finds a knee wider than the crop
    is high (by :data:`WIDE_KNEE_RATIO`) was cut tight above and below the joint: its box is the
    square of the knee's width (at most the crop's), around the detected knee, reaching above and
    below the crop. Any other wider (or taller) crop, as other clinics cut them, is tried as a
    centred square of its short side, of its long side (padded), and between, where the padding
    stays within :data:`MAX_CROP_PADDING`; the one whose crop looks most like a joint-centred knee
    crop is then centred on the joint like a film's box. A square crop that the framing model reads
    as looser than the standard (:mod:`kneeai.grading.framing`) is cut again, centred, at the
    standard's size (not the squares of wider or taller crops: on held-out dev films that lost one or
    two of 74 knees' grades in each such style and gained none).
    """
    from kneeai.imaging.crop import square_box

    h, w = rad.shape
    if h == w:
        return _framed(rad, CropBox(top=0, left=0, height=h, width=w))
    tight = _tight_wide_box(rad)
    if tight is not None:
        return tight
    grader, density = joint_scoring(grader)
    if density is None:
        return square_box(rad)
    short, long_ = min(h, w), max(h, w)
    boxes = []
    for f in CROP_SIDES:
        side = int(round(short + f * (long_ - short)))
        if (side - short) / side <= MAX_CROP_PADDING:  # always true of the short side's own square
            boxes.append(CropBox(top=(h - side) // 2, left=(w - side) // 2, height=side, width=side))
    scores = _scores(rad, boxes, rad.laterality, grader, density)
    best = boxes[int(np.argmin(scores))]
    return centre_on_joint(rad, best, rad.laterality, grader, density).box


def _framed(rad: Radiograph, box: CropBox) -> CropBox:
    """``box`` (the whole of a square crop), or, when it reads looser than
    :data:`~kneeai.grading.framing.LOOSE_THRESHOLD`, its centred square at the standard's size."""
    from kneeai.grading.framing import LOOSE_THRESHOLD, crop_scale

    # Read off the box's own pixels: the model averages them down to 64 px itself, so the crop's
    # resampling to the grader's input is not needed here (it is made once, afterwards).
    scale = crop_scale(rad.pixels[box.top : box.top + box.height, box.left : box.left + box.width])
    if scale is None or scale <= LOOSE_THRESHOLD:
        return box
    side = max(1, int(round(box.height / scale)))
    return CropBox(top=box.top + (box.height - side) // 2, left=box.left + (box.width - side) // 2, height=side, width=side)


def _tight_wide_box(rad: Radiograph) -> CropBox | None:
    """The square of the knee's width on a wide crop cut tight above and below the joint, or None.

    Only wide crops: on tall crops cut tight at the sides, mirrored columns made a second condyle and
    were graded worse than the centred square of the width (docs/film_path.md)."""
    from kneeai.grading.detector import detect_knees

    h, w = rad.shape
    if w <= h:
        return None
    found = detect_knees(rad.pixels)
    if not found:
        return None
    knee = found[0]
    side = int(round(min(knee.side, w)))
    if side < WIDE_KNEE_RATIO * h:
        return None
    left = int(round(np.clip(knee.col - side / 2, 0, w - side)))
    return CropBox(top=(h - side) // 2, left=left, height=side, width=side)
