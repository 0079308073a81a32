"""Loading the shipped grading model, verified against weights/manifest.json.

The PyTorch module is loaded (and its sha256 checked) only when something needs it: Grad-CAM,
the PyTorch runtime, training tools. Grading itself runs the ONNX export, checked when the grader
is loaded, so a CLI run that only grades never imports PyTorch (:mod:`kneeai.grading.inputs`).

When no trained grader is shipped (a fresh checkout mid-development) a placeholder network is
used: ImageNet features with an untrained head. Its ModelInfo says ``placeholder=True`` and the
UI and CLI say so loudly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from kneeai.errors import WeightsMissing
from kneeai.grading.runtime import Network, TorchNetwork, load_network, resolve_module
from kneeai.manifest import load_manifest, verified_path
from kneeai.schemas import ModelInfo

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Grader", "GRADER_FILE", "load_grader"]

GRADER_FILE = "kl_grader.pt"
PLACEHOLDER_ID = "placeholder-untrained"


@dataclass(frozen=True)
class Grader:
    # The PyTorch module, or the function that loads it on first use (see the module docstring).
    weights: object
    info: ModelInfo
    temperature: float
    # Average the film's and its mirror image's logits (only when that paid on val).
    flip_average: bool = True
    # The side the network sees (crops are upsampled to it when it was trained larger).
    input_size: int = 224
    # The forward pass grading runs (ONNX Runtime when shipped, :mod:`kneeai.grading.runtime`);
    # None means the PyTorch module itself. Grad-CAM always uses ``model``.
    network: Network | None = None

    @property
    def model(self) -> "nn.Module":
        return resolve_module(self.weights)

    @property
    def forward(self) -> Network:
        return self.network or TorchNetwork(self.weights)


@lru_cache(maxsize=2)
def _placeholder_module():
    import torch

    from kneeai.grading.model import build_model

    torch.manual_seed(0)
    return build_model(pretrained=True).eval()


@lru_cache(maxsize=2)
def _trained_module(name: str):
    import torch

    from kneeai.grading.model import build_model

    path, _ = verified_path(name)
    model = build_model(pretrained=False)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval().to(memory_format=torch.channels_last)


@lru_cache(maxsize=2)
def load_grader(name: str = GRADER_FILE, allow_placeholder: bool = True) -> Grader:
    if name not in load_manifest():
        if not allow_placeholder:
            raise WeightsMissing(name=name)
        return Grader(_placeholder_module, ModelInfo(PLACEHOLDER_ID, "", placeholder=True), 1.0)
    entry = load_manifest()[name]

    def module():
        return _trained_module(name)

    return Grader(module, ModelInfo(entry.get("model_id", name), entry["sha256"]), float(entry.get("temperature", 1.0)),
                  bool(entry.get("flip_average", True)), int(entry.get("input_size", 224)),
                  load_network(module, entry["sha256"]))
