"""The out-of-distribution gate: is this a knee AP/PA radiograph the grader may grade?

Two layers, cheapest first:

1. Image statistics (:mod:`kneeai.io.appearance`), with thresholds set well outside the
   range of the training knees (measured on 1426 train and val knees, see the constants below):
   a colour photograph, a blank frame, noise, a screenshot or drawing, a metal implant at the
   joint (a knee prosthesis: flagged, since KL grading does not apply to a replaced knee).
2. A learned density of the grader's own penultimate features (1280 averaged activations of the
   last convolution): a Gaussian per KL grade with a shared covariance (Lee et al. 2018), the
   covariance modelled as probabilistic PCA (``n_components`` directions plus isotropic
   residual variance) so it is well conditioned with 1280 features. It is fitted on training
   knees plus copies put through the grader's own training augmentation, so a slightly
   different crop or exposure still counts as a knee. The score is the squared Mahalanobis
   distance to the nearest grade; its threshold is the 99.5th percentile over the `val` knees
   (the grader has seen every train knee, so only val shows how far a new knee lands), and a
   2-fold patient split of val estimates the rejection rate on knees it was not tuned on. Chest and hand films, photographs and anything else
   the grader has never seen land far from every grade. Metal at the joint is called a
   prosthesis only when the film around it, metal filled in, still looks like a knee.
3. For a crop the density finds knee-like: is it a negative, bone dark (a small network,
   :mod:`kneeai.grading.polarity`)? The pipeline turns negatives back before they get here; this
   refuses one handed on directly.

The density is fitted for one grader: the gate file ``weights/ood_gate.npz`` records the
grader's model id and sha256, and a gate that does not match the loaded grader is ignored with a
logged warning (the statistics still run). Refit after shipping new grader weights::

    python -m kneeai.training.gate_fit fit --data ../shared/data/knee-kl --out weights/ood_gate.npz
    python -m kneeai.training.gate_fit evaluate --data ../shared/data/knee-kl --out docs/ood_eval.json

``GateResult.score`` is the largest of all checks' values divided by their thresholds, so a
score above 1 is exactly a rejection; ``reason`` is the i18n key of the first failing check.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kneeai.config import SETTINGS
from kneeai.grading.polarity import NEGATIVE_THRESHOLD, negative_probability
from kneeai.imaging.joint import find_joint_row
from kneeai.io import appearance
from kneeai.schemas import GateResult, KneeCrop, Radiograph

__all__ = [
    "GATE_FILE",
    "REASONS",
    "FeatureDensity",
    "check",
    "check_radiograph",
    "judge",
    "precheck",
    "image_checks",
    "shows_metal",
    "load_gate",
    "features",
    "fit_density",
]

log = logging.getLogger(__name__)

GATE_FILE = "ood_gate.npz"

# Thresholds. Knee ranges over 1426 train + val crops: dynamic range >= 0.37, neighbour
# correlation >= 0.90, flat fraction <= 0.13, fine texture >= 0.011, metal share of the joint
# band <= 0.016.
MAX_COLOURFULNESS = 15.0  # Hasler-Süsstrunk "slightly colourful"; grey films are ~0-5
MIN_SIDE_PX = 112  # half the model input; smaller films are upsampled past what grading supports
MIN_DYNAMIC_RANGE = 0.05
NOISE_CORRELATION = 0.35  # below this, pixel-to-pixel noise dominates (text is 0.42-0.62)
WEAK_CORRELATION = 0.75  # below this, a non-flat image is still mostly noise
MAX_FLAT_FRACTION = 0.30
MIN_FINE_TEXTURE = 0.003  # knees >= 0.011; computer-drawn gradients ~0.0002
MAX_METAL_SHARE = 0.10
# The joint band searched for metal, as fractions of the crop height around the joint line.
METAL_BAND = (0.20, 0.15)
# Share of val knees inside the threshold: the target is <= 1% wrongly rejected.
VAL_QUANTILE = 0.995
# A film with metal at the joint is called a prosthesis only if the rest looks like a knee:
# its density score, as it is or with the metal filled in (whichever is lower), is within this
# multiple of the threshold. Metal's shadows and the altered bone shape disturb the features,
# hence the slack. With grader kl-efficientnet-lite0-8f4cacc1: 104 val knees with a painted-in
# prosthesis score 0.50-1.50, the eight example knees up to 1.78 (KL4 knees sit at the edge of
# the density); chest and hand phantoms with metal 1.2-1.8, grey colour fields and textures
# 1.7-4.0. Knees come first here: a knee clinic sees far more replaced knees than chest films
# with a pacemaker, so such a non-knee film may be refused as "prosthesis" rather than "not a
# knee". Either way the film is refused; only the stated reason depends on this.
PROSTHESIS_DENSITY_SLACK = 2.0

# Every reason key the gate may give, in the order the checks run ("unknown" is the callers'
# fallback when a result carries no reason).
REASONS: tuple[str, ...] = (
    "gate.reason.photo",
    "gate.reason.too_small",
    "gate.reason.blank",
    "gate.reason.noise",
    "gate.reason.screenshot",
    "gate.reason.negative",
    "gate.reason.prosthesis",
    "gate.reason.not_knee",
    "gate.reason.unknown",
)


def _verdict(ratios: list[tuple[str, float]]) -> GateResult:
    """Accept when every ratio is <= 1; the reason is the first check over its limit."""
    failing = [key for key, r in ratios if r > 1.0]
    score = max((r for _, r in ratios), default=0.0)
    if not failing:
        return GateResult(accepted=True, score=float(score))
    # A white screenshot background also looks like "metal": only a film that passed the
    # earlier checks is called a prosthesis.
    return GateResult(accepted=False, score=float(score), reason=failing[0],
                      prosthesis=failing[0] == "gate.reason.prosthesis")


def check_radiograph(rad: Radiograph) -> GateResult:
    """Checks on the whole film before cropping: colour, size, blank."""
    ratios = [
        ("gate.reason.photo", rad.colourfulness / MAX_COLOURFULNESS),
        ("gate.reason.too_small", MIN_SIDE_PX / max(min(rad.shape), 1)),
        ("gate.reason.blank", MIN_DYNAMIC_RANGE / max(appearance.dynamic_range(rad.pixels), 1e-9)),
    ]
    return _verdict(ratios)


def _metal_share(pixels: np.ndarray) -> float:
    """Share of the joint band covered by near-white, textureless regions."""
    h = pixels.shape[0]
    j = find_joint_row(pixels)
    band = appearance.bright_plateau(pixels)[max(0, j - int(METAL_BAND[0] * h)) : j + int(METAL_BAND[1] * h)]
    return float(band.mean()) if band.size else 0.0


def _without_metal(pixels: np.ndarray) -> np.ndarray:
    """The crop with its near-white plateaus filled from the surrounding bone (normalised
    Gaussian smoothing over the pixels outside them)."""
    from scipy import ndimage

    x = np.asarray(pixels, np.float32)
    metal = ndimage.binary_dilation(appearance.bright_plateau(x), iterations=2)
    keep = (~metal).astype(np.float32)
    smooth = ndimage.gaussian_filter(x * keep, 12) / np.maximum(ndimage.gaussian_filter(keep, 12), 1e-6)
    out = x.copy()
    out[metal] = smooth[metal]
    return out


def shows_metal(pixels: np.ndarray) -> bool:
    """Whether the metal check fires on a crop as it is (a knee prosthesis, if the rest is a knee)."""
    return _metal_share(np.asarray(pixels, np.float32)) > MAX_METAL_SHARE


def image_checks(pixels: np.ndarray) -> list[tuple[str, float]]:
    """(reason key, value / threshold) for each image-statistics check of a crop, in order."""
    x = np.asarray(pixels, np.float32)
    dr = appearance.dynamic_range(x)
    if dr < MIN_DYNAMIC_RANGE:  # nothing else is meaningful on a blank image
        return [("gate.reason.blank", MIN_DYNAMIC_RANGE / max(dr, 1e-9))]
    corr = appearance.neighbour_correlation(x)
    flat = appearance.flat_fraction(x)
    noise = (1 - corr) / (1 - NOISE_CORRELATION)
    if flat <= MAX_FLAT_FRACTION:
        noise = max(noise, (1 - corr) / (1 - WEAK_CORRELATION))
    return [
        ("gate.reason.blank", MIN_DYNAMIC_RANGE / dr),
        ("gate.reason.noise", noise),
        # A screen graphic is flat (one background colour) or has no film texture (a gradient).
        ("gate.reason.screenshot", max(flat / MAX_FLAT_FRACTION, MIN_FINE_TEXTURE / max(appearance.fine_texture(x), 1e-9))),
        ("gate.reason.prosthesis", _metal_share(x) / MAX_METAL_SHARE),
    ]


def _negative(pixels: np.ndarray) -> list[tuple[str, float]]:
    """The polarity check's (reason key, p / threshold), or nothing without a shipped network.

    It is asked only of a crop the density finds knee-like (or with no density fitted), and after
    the metal check: on a chest or hand film its answer means nothing, and "not a knee" is the reason
    to give; metal at the joint is called a prosthesis first, since a knee clinic sees far more
    replaced knees than negatives (a negative whose white joint space reads as metal is refused as a
    prosthesis, as before this check)."""
    p = negative_probability(pixels)
    return [] if p is None else [("gate.reason.negative", p / NEGATIVE_THRESHOLD)]


@dataclass(frozen=True)
class FeatureDensity:
    """Class-conditional Gaussians with a shared probabilistic-PCA covariance.

    means : ndarray, shape = (n_classes, n_features)
    components : ndarray, shape = (n_components, n_features), orthonormal rows
    variances : ndarray, shape = (n_components,), variance along each component
    residual_variance : variance of every direction outside the components
    threshold : squared distance above which an input is out of distribution
    val_crossfit_rejected_share : val knees rejected by a threshold set on the other half of the
        val patients (-1 when unknown)
    """

    means: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    residual_variance: float
    threshold: float
    grader_model_id: str = ""
    grader_sha256: str = ""
    val_crossfit_rejected_share: float = -1.0

    def distance2(self, feats: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance to the nearest class, shape = (n,)."""
        f = np.atleast_2d(np.asarray(feats, np.float64))
        diff = f[:, None, :] - self.means[None, :, :]  # (n, classes, features)
        proj = diff @ self.components.T  # (n, classes, k)
        inside = (proj**2 / self.variances).sum(-1)
        residual = np.maximum((diff**2).sum(-1) - (proj**2).sum(-1), 0.0) / self.residual_variance
        return (inside + residual).min(1)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path, means=self.means.astype(np.float32), components=self.components.astype(np.float32),
            variances=self.variances, residual_variance=np.float64(self.residual_variance),
            threshold=np.float64(self.threshold), grader_model_id=np.str_(self.grader_model_id),
            grader_sha256=np.str_(self.grader_sha256),
            val_crossfit_rejected_share=np.float64(self.val_crossfit_rejected_share),
        )

    @classmethod
    def load(cls, path: Path) -> "FeatureDensity":
        with np.load(path, allow_pickle=False) as z:
            return cls(
                means=z["means"].astype(np.float64), components=z["components"].astype(np.float64),
                variances=z["variances"].astype(np.float64), residual_variance=float(z["residual_variance"]),
                threshold=float(z["threshold"]), grader_model_id=str(z["grader_model_id"]),
                grader_sha256=str(z["grader_sha256"]),
                val_crossfit_rejected_share=float(z["val_crossfit_rejected_share"]) if "val_crossfit_rejected_share" in z else -1.0,
            )


def fit_density(feats: np.ndarray, labels: np.ndarray, n_components: int = 64) -> FeatureDensity:
    """Fit class means and the shared PPCA covariance of the within-class residuals.

    feats : ndarray, shape = (n, n_features); labels : ndarray, shape = (n,), ints.
    The returned density has ``threshold = inf``; set it from held-out data.
    """
    f = np.asarray(feats, np.float64)
    y = np.asarray(labels)
    classes = np.unique(y)
    means = np.stack([f[y == c].mean(0) for c in classes])
    resid = f - means[np.searchsorted(classes, y)]
    n, d = resid.shape
    k = int(min(n_components, max(1, n // 4), d - 1))
    _, s, vt = np.linalg.svd(resid, full_matrices=False)
    eig = s**2 / max(n - len(classes), 1)
    # Probabilistic PCA (Tipping & Bishop 1999): the discarded directions share one variance,
    # averaged over the directions the sample actually spans (fewer knees than features leave
    # the rest at zero, which would make every new knee look infinitely far).
    rank = int(min(n - len(classes), d))
    rest = eig[k:rank]
    residual_variance = float(rest.mean()) if rest.size else float(eig[min(k, len(eig)) - 1])
    residual_variance = max(residual_variance, 1e-6 * float(eig[0]))
    return FeatureDensity(means, vt[:k], np.maximum(eig[:k], residual_variance), residual_variance, float("inf"))


def features(grader, crops: list[np.ndarray], batch: int = 32) -> np.ndarray:
    """The grader's penultimate features (spatially averaged last convolution), shape = (n, 1280)."""
    from kneeai.grading.inputs import input_array

    out = [grader.forward.features_and_logits(input_array(list(crops[i : i + batch]), grader.input_size))[0]
           for i in range(0, len(crops), batch)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


_GATES: dict[tuple[str, str, str], FeatureDensity | None] = {}


def load_gate(grader, weights_dir: Path | None = None) -> FeatureDensity | None:
    """The shipped density for ``grader``, or None (logged) when missing or fitted for another."""
    from kneeai.errors import KneeAIError
    from kneeai.manifest import verified_path

    wdir = weights_dir or SETTINGS.weights_dir
    key = (str(wdir), grader.info.model_id, grader.info.sha256)
    if key in _GATES:
        return _GATES[key]
    gate = None
    try:
        path, _ = verified_path(GATE_FILE, wdir)
        loaded = FeatureDensity.load(path)
        if (loaded.grader_model_id, loaded.grader_sha256) == (grader.info.model_id, grader.info.sha256):
            gate = loaded
        else:
            log.warning("%s was fitted for grader %s (%s), not the loaded %s (%s): checking image statistics only. "
                        "Refit with `python -m kneeai.training.gate_fit fit`.", GATE_FILE, loaded.grader_model_id,
                        loaded.grader_sha256[:12], grader.info.model_id, grader.info.sha256[:12])
    except KneeAIError as exc:
        log.warning("No usable %s (%s): checking image statistics only.", GATE_FILE, exc.key)
    _GATES[key] = gate
    return gate


def precheck(crop: KneeCrop, radiograph: Radiograph | None = None) -> tuple[GateResult | None, list[tuple[str, float]]]:
    """The checks that need no network: a final refusal (or None) and the image-statistics ratios
    that :func:`judge` completes with the density."""
    if radiograph is not None:
        film = check_radiograph(radiograph)
        if not film.accepted:
            return film, []
    ratios = image_checks(crop.pixels)
    verdict = _verdict(ratios)
    if not verdict.accepted and not verdict.prosthesis:
        return verdict, ratios
    return None, ratios


def judge(crop: KneeCrop, ratios: list[tuple[str, float]], feats: np.ndarray, grader,
          density: FeatureDensity | None) -> GateResult:
    """The verdict on a crop that passed :func:`precheck`, from the features of the pass that
    grades it (shape = (1280,)). Only a suspected prosthesis costs a second pass (the crop with
    its metal filled in)."""
    verdict = _verdict(ratios)
    if density is None:  # image statistics only
        return _verdict(ratios + _negative(crop.pixels))
    if verdict.prosthesis:
        filled = features(grader, [_without_metal(crop.pixels)])
        rest = float(density.distance2(np.stack([feats, filled[0]])).min()) / density.threshold
        if rest > PROSTHESIS_DENSITY_SLACK:
            return GateResult(accepted=False, score=max(verdict.score, rest), reason="gate.reason.not_knee")
        return verdict
    d2 = float(density.distance2(feats[None])[0])
    return _verdict(ratios + [("gate.reason.not_knee", d2 / density.threshold)] + _negative(crop.pixels))


def check(crop: KneeCrop, grader=None, radiograph: Radiograph | None = None,
          density: FeatureDensity | None = None) -> GateResult:
    """Decide whether ``crop`` is a knee AP/PA radiograph the grader may grade.

    grader : the loaded grader (default :func:`~kneeai.grading.weights.load_grader`); its
        features feed the learned density.
    radiograph : the film the crop came from, when known: its colour and size are checked too.
    density : overrides the shipped gate file (tests, evaluation).

    Grading calls :func:`precheck` and :func:`judge` around its own forward pass instead, so a
    knee goes through the network once; this is the stand-alone form.
    """
    refused, ratios = precheck(crop, radiograph)
    if refused is not None:
        return refused
    if grader is None:
        from kneeai.grading.weights import load_grader

        grader = load_grader()
    if density is None:
        density = load_gate(grader)
    if density is None:
        return _verdict(ratios)
    return judge(crop, ratios, features(grader, [crop.pixels])[0], grader, density)


# ---------------------------------------------------------------- command line: fit / evaluate
