"""Grade knees: crops in, calibrated KL probabilities out, in one network pass per knee.

The out-of-distribution gate reads the penultimate features of the same forward pass that grades
the knee (:func:`grade_knees`); the mirrored view is computed in that pass too, for the
flip-disagreement uncertainty.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kneeai.errors import NotAKnee
from kneeai.grading.inputs import input_array
from kneeai.grading.weights import Grader, load_grader
from kneeai.imaging.crop import crop_knee
from kneeai.imaging.localize import is_single_knee
from kneeai.schemas import GateResult, GradeResult, KneeCrop, Radiograph

__all__ = ["grade", "grade_batch", "grade_knees", "as_crop"]


def as_crop(source: Radiograph | KneeCrop | np.ndarray) -> KneeCrop:
    if isinstance(source, KneeCrop):
        return source
    if isinstance(source, np.ndarray):
        source = Radiograph(pixels=np.asarray(source, np.float32), spacing_mm=None, laterality=None, source="array")
    if not is_single_knee(source):
        from kneeai.grading.centre import centred_knee_boxes

        boxes = centred_knee_boxes(source)
        box, lat = boxes[0]
        return crop_knee(source, box, lat)
    return crop_knee(source)


def _entropy(p: np.ndarray) -> float:
    return float(-(p * np.log(np.clip(p, 1e-12, 1))).sum())


@dataclass(frozen=True)
class _Pass:
    features: np.ndarray  # (n, 1280), plain view
    plain: np.ndarray  # (n, 5) logits
    flipped: np.ndarray  # (n, 5) logits of the mirror image
    # The calibrated probabilities averaged over the knee's own crop and its nudged copies, where it
    # has any; the flip disagreement stays the knee's own box's.
    graded: np.ndarray | None = None


def _forward(crops: list[KneeCrop], grader: Grader) -> _Pass:
    x = input_array([c.pixels for c in crops], grader.input_size)
    feats, logits = grader.forward.features_and_logits(np.concatenate([x, x[..., ::-1]]))
    n = len(crops)
    return _Pass(feats[:n], logits[:n], logits[n:])


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def _calibrated(plain: np.ndarray, flipped: np.ndarray | None, grader: Grader) -> np.ndarray:
    """P(KL = k) from logits: flip-averaged where the grader averages, then temperature-scaled."""
    logits = (plain + flipped) / 2 if grader.flip_average else plain
    return _softmax(logits / np.float32(grader.temperature))


def _with_neighbours(p: _Pass, neighbours: list[list[KneeCrop]], grader: Grader) -> _Pass:
    """``p`` with each knee's probabilities averaged over its own crop and its ``neighbours``
    (copies cut from nudged boxes); their mirror images are run only where the grader averages
    them in."""
    extra = [c for ns in neighbours for c in ns]
    if not extra:
        return p
    x = input_array([c.pixels for c in extra], grader.input_size)
    if grader.flip_average:
        x = np.concatenate([x, x[..., ::-1]])
    _, logits = grader.forward.features_and_logits(x)
    n_extra = len(extra)
    probs = _calibrated(logits[:n_extra], logits[n_extra:] if grader.flip_average else None, grader)
    graded = _calibrated(p.plain, p.flipped, grader)
    at = 0
    for k, ns in enumerate(neighbours):
        n = len(ns)
        if n:
            graded[k] = (graded[k] + probs[at : at + n].sum(0)) / (n + 1)
            at += n
    return _Pass(p.features, p.plain, p.flipped, graded)


def _results(p: _Pass, grader: Grader, gates: list[GateResult | None]) -> list[GradeResult]:
    T = np.float32(grader.temperature)
    probs = (_calibrated(p.plain, p.flipped, grader) if p.graded is None else p.graded).astype(np.float64)
    p_plain = _softmax(p.plain / T)
    p_flip = _softmax(p.flipped / T)
    out = []
    for i, q in enumerate(probs):
        q = q / q.sum()
        gate = gates[i]
        out.append(
            GradeResult(
                kl_grade=int(q.argmax()),
                probabilities=tuple(float(v) for v in q),
                expected_grade=float((q * np.arange(5)).sum()),
                entropy=_entropy(q),
                flip_disagreement=float(0.5 * np.abs(p_plain[i] - p_flip[i]).sum()),
                model=grader.info,
                gate=gate,
                outside_validated_use=bool(gate is not None and not gate.accepted),
            )
        )
    return out


def grade_batch(crops: list[KneeCrop], grader: Grader | None = None, gates: list[GateResult | None] | None = None) -> list[GradeResult]:
    """Grade crops (no gate) with temperature scaling; ``gates`` are attached as given."""
    grader = grader or load_grader()
    if not crops:
        return []
    return _results(_forward(crops, grader), grader, gates or [None] * len(crops))


def grade_knees(crops: list[KneeCrop], radiographs: list[Radiograph | None] | None = None, *,
                grader: Grader | None = None, allow_outside_use: bool = False,
                check_gate: bool = True, prechecks: list | None = None,
                neighbours: list[list[KneeCrop]] | None = None) -> list[GradeResult | NotAKnee]:
    """Gate and grade many knees (from any number of films) in one batched pass.

    Each entry is the knee's result, or the :class:`NotAKnee` it was refused with (not raised, so
    one refused knee does not stop the others). ``radiographs[i]`` is the film crop ``i`` came
    from, so the gate also judges the whole film. With ``allow_outside_use`` a refused knee is
    graded and marked ``outside_validated_use`` instead. ``prechecks`` are the knees'
    :func:`~kneeai.grading.gate.precheck` results when already computed (the pipeline runs them in
    its intake threads, ahead of the network). ``neighbours[i]`` are copies of knee ``i`` cut from
    nudged boxes (:func:`kneeai.pipeline.nudged_crops`): its grade is then their mean with its own
    crop's (of their calibrated probabilities), while the gate and the flip disagreement read its own
    crop.
    """
    from kneeai.grading import gate as gate_mod

    grader = grader or load_grader()
    films = radiographs or [None] * len(crops)
    if prechecks is not None and check_gate:
        pre: list[tuple[GateResult | None, list]] = list(prechecks)
    else:
        pre = [gate_mod.precheck(c, f) if check_gate else (None, []) for c, f in zip(crops, films)]
    # A knee refused on its image statistics alone needs no network pass (unless graded anyway).
    run = [i for i, (refused, _) in enumerate(pre) if refused is None or allow_outside_use]
    out: list[GradeResult | NotAKnee | None] = [None] * len(crops)
    for i, (refused, _) in enumerate(pre):
        if i not in run:
            out[i] = _refusal(refused)
    if run:
        p = _forward([crops[i] for i in run], grader)
        if neighbours is not None:
            p = _with_neighbours(p, [neighbours[i] for i in run], grader)
        density = gate_mod.load_gate(grader) if check_gate else None
        gates: list[GateResult | None] = []
        for k, i in enumerate(run):
            refused, ratios = pre[i]
            if not check_gate:
                gates.append(None)
            elif refused is not None:
                gates.append(refused)
            else:
                gates.append(gate_mod.judge(crops[i], ratios, p.features[k], grader, density))
        for k, (i, r) in enumerate(zip(run, _results(p, grader, gates))):
            g = gates[k]
            out[i] = r if g is None or g.accepted or allow_outside_use else _refusal(g)
    return out  # type: ignore[return-value]


def _refusal(gate: GateResult) -> NotAKnee:
    # A replaced joint is a knee, but KL grading does not apply to it: say so plainly.
    key = "error.prosthesis" if gate.prosthesis else None
    return NotAKnee(key, detail_key=gate.reason or "gate.reason.unknown")


def grade(source: Radiograph | KneeCrop | np.ndarray, *, check_gate: bool = True, allow_outside_use: bool = False,
          grader: Grader | None = None, radiograph: Radiograph | None = None) -> GradeResult:
    """Grade one knee.

    The out-of-distribution gate runs first; a rejected input raises :class:`NotAKnee` unless
    ``allow_outside_use`` is set, in which case the result is marked ``outside_validated_use``.
    ``radiograph`` is the film a crop came from, so the gate can also judge the whole film (a
    colour photograph is refused from its colour, which the grey crop no longer shows).
    """
    crop = as_crop(source)
    film = source if isinstance(source, Radiograph) else radiograph
    result = grade_knees([crop], [film], grader=grader, allow_outside_use=allow_outside_use, check_gate=check_gate)[0]
    if isinstance(result, NotAKnee):
        raise result
    return result
