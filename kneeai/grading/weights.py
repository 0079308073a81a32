"""Loading the shipped grading model, verified against weights/manifest.json.

When no trained grader is shipped (a fresh checkout mid-development) a placeholder network is
used: ImageNet features with an untrained head. Its ModelInfo says ``placeholder=True`` and the
UI and CLI say so loudly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from kneeai.errors import WeightsMissing
from kneeai.grading.model import build_model
from kneeai.grading.runtime import Network, TorchNetwork, load_network
from kneeai.manifest import load_manifest, verified_path
from kneeai.schemas import ModelInfo

__all__ = ["Grader", "GRADER_FILE", "load_grader"]

GRADER_FILE = "kl_grader.pt"
PLACEHOLDER_ID = "placeholder-untrained"


@dataclass(frozen=True)
class Grader:
    model: torch.nn.Module
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
    def forward(self) -> Network:
        return self.network or TorchNetwork(self.model)


@lru_cache(maxsize=2)
def load_grader(name: str = GRADER_FILE, allow_placeholder: bool = True) -> Grader:
    if name not in load_manifest():
        if not allow_placeholder:
            raise WeightsMissing(name=name)
        torch.manual_seed(0)
        model = build_model(pretrained=True).eval()
        return Grader(model, ModelInfo(PLACEHOLDER_ID, "", placeholder=True), 1.0)
    path, entry = verified_path(name)
    model = build_model(pretrained=False)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval().to(memory_format=torch.channels_last)
    return Grader(model, ModelInfo(entry.get("model_id", name), entry["sha256"]), float(entry.get("temperature", 1.0)),
                  bool(entry.get("flip_average", True)), int(entry.get("input_size", 224)),
                  load_network(model, entry["sha256"]))
