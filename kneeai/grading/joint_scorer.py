"""The network that finds the joint on a film, shipped apart from the grader.

Centring (:mod:`kneeai.grading.centre`) scores candidate boxes by how much their crop looks like a
joint-centred knee crop: the distance of the crop's features from a density fitted on such crops.
That needs a network and its density, not the grader itself. Shipping them as their own pair
(``joint_scorer.onnx`` and ``joint_scorer_density.npz``, the 224-pixel grader that shipped before and
its gate) keeps the boxes, and the cost of finding them, the same whatever grader follows: a
grader that sees knees at a larger input would otherwise make every centring pass dearer too.

Without the pair (an older ``weights/``), centring falls back to the grader and its gate.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kneeai.grading.runtime import Network
from kneeai.schemas import ModelInfo

__all__ = ["JointScorer", "SCORER_FILE", "SCORER_DENSITY_FILE", "load_joint_scorer", "joint_scoring"]

log = logging.getLogger(__name__)

SCORER_FILE = "joint_scorer.onnx"
SCORER_DENSITY_FILE = "joint_scorer_density.npz"


@dataclass(frozen=True)
class JointScorer:
    """What :func:`kneeai.grading.gate.features` needs of a network: ``forward``, ``input_size``, ``info``."""

    forward: Network
    input_size: int
    info: ModelInfo
    density: object  # kneeai.grading.gate.FeatureDensity


@lru_cache(maxsize=2)
def load_joint_scorer(weights_dir: Path | None = None) -> JointScorer | None:
    """The shipped scorer with its density (both sha256-checked), or None when either is missing."""
    from kneeai.errors import KneeAIError
    from kneeai.grading.gate import FeatureDensity
    from kneeai.grading.runtime import OnnxNetwork, onnx_session
    from kneeai.manifest import load_manifest, verified_path

    if SCORER_FILE not in load_manifest(weights_dir):
        return None
    try:
        net_path, entry = verified_path(SCORER_FILE, weights_dir)
        density_path, _ = verified_path(SCORER_DENSITY_FILE, weights_dir)
        import onnxruntime  # noqa: F401
    except (KneeAIError, ImportError) as exc:
        log.warning("Joint scorer not usable (%s): centring with the grader.", getattr(exc, "key", exc))
        return None
    info = ModelInfo(entry["model_id"], entry["source_sha256"])
    density = FeatureDensity.load(density_path)
    if (density.grader_model_id, density.grader_sha256) != (info.model_id, info.sha256):
        log.warning("%s was fitted for %s, not the scorer %s: centring with the grader.", SCORER_DENSITY_FILE,
                    density.grader_model_id, info.model_id)
        return None
    return JointScorer(OnnxNetwork(onnx_session(net_path)), int(entry.get("input_size", 224)), info, density)


def joint_scoring(grader=None) -> tuple[object, object]:
    """The (network, density) pair that centring scores boxes with: the shipped scorer, else
    ``grader`` (default: the shipped grader, loaded only then) and its gate (density None when the
    grader has none fitted)."""
    scorer = load_joint_scorer()
    if scorer is not None:
        return scorer, scorer.density
    from kneeai.grading.gate import load_gate
    from kneeai.grading.weights import load_grader

    grader = grader or load_grader()
    return grader, load_gate(grader)
