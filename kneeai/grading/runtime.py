"""The forward pass that grading runs: ONNX Runtime where the shipped export is present, else PyTorch.

Measured on this project's 2-core CPU (``python -m kneeai.bench grade``, JSON in
``docs/bench/grade.json``): ONNX Runtime runs EfficientNet-Lite0 in well under half the CPU time
of PyTorch eager (its graph optimiser folds batch norm into the convolutions and fuses the
ReLU6s), with the same features and logits within :data:`ONNX_TOLERANCE`. Grad-CAM still needs
gradients, so it keeps the PyTorch module; both are the same weights (the export is checked
against the ``.pt`` it was made from, by its sha256 and by ``tests/unit/test_grading_runtime.py``).

``KNEEAI_RUNTIME=torch`` forces PyTorch (for comparison, or where onnxruntime is not installed).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

__all__ = ["Network", "TorchNetwork", "OnnxNetwork", "ONNX_FILE", "ONNX_TOLERANCE", "RUNTIME_ENV",
           "load_network", "onnx_session"]

log = logging.getLogger(__name__)

ONNX_FILE = "kl_grader.onnx"
RUNTIME_ENV = "KNEEAI_RUNTIME"
# Largest absolute difference allowed between the two runtimes' logits and features (float32
# summation order differs; measured below 1e-5 on val crops).
ONNX_TOLERANCE = 1e-4
# Images per ONNX Runtime call: larger batches amortise its per-call overhead (8, 16 and 32 ran
# at the same speed on 2 cores; 32 keeps the activations within a few hundred MB).
ONNX_CHUNK = 32


class Network(Protocol):
    """Pooled penultimate features (n, 1280) and logits (n, 5) of a normalised input batch."""

    name: str

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class TorchNetwork:
    model: torch.nn.Module
    name: str = "torch"

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from kneeai.grading.model import FORWARD_CHUNK, features_and_logits

        return features_and_logits(self.model, x, FORWARD_CHUNK)


@dataclass(frozen=True)
class OnnxNetwork:
    session: object  # onnxruntime.InferenceSession
    name: str = "onnxruntime"

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        arr = np.ascontiguousarray(x.detach().float().contiguous().numpy())
        feats, logits = [], []
        for i in range(0, len(arr), ONNX_CHUNK):
            f, lg = self.session.run(None, {"x": arr[i : i + ONNX_CHUNK]})
            feats.append(f)
            logits.append(lg)
        if not feats:
            return torch.zeros((0, 1280)), torch.zeros((0, 5))
        return torch.from_numpy(np.concatenate(feats)), torch.from_numpy(np.concatenate(logits))


def onnx_session(path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def load_network(model: torch.nn.Module, grader_sha256: str, weights_dir=None) -> Network:
    """ONNX Runtime on the shipped export of the grader with ``grader_sha256``, else ``model``."""
    from kneeai.errors import KneeAIError
    from kneeai.manifest import load_manifest, verified_path

    if os.environ.get(RUNTIME_ENV, "").lower() == "torch":
        return TorchNetwork(model)
    entry = load_manifest(weights_dir).get(ONNX_FILE)
    if entry is None or entry.get("source_sha256") != grader_sha256:
        return TorchNetwork(model)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.warning("onnxruntime is not installed: grading with PyTorch (slower).")
        return TorchNetwork(model)
    try:
        path, _ = verified_path(ONNX_FILE, weights_dir)
    except KneeAIError as exc:
        log.warning("%s not usable (%s): grading with PyTorch.", ONNX_FILE, exc.key)
        return TorchNetwork(model)
    return OnnxNetwork(onnx_session(path))
