"""The forward pass that grading runs: ONNX Runtime where the shipped export is present, else PyTorch.

Measured on this project's 2-core CPU (``python -m kneeai.bench grade``, JSON in
``docs/bench/grade.json``): ONNX Runtime runs EfficientNet-Lite0 in well under half the CPU time
of PyTorch eager (its graph optimiser folds batch norm into the convolutions and fuses the
ReLU6s), with the same features and logits within :data:`ONNX_TOLERANCE`. Grad-CAM still needs
gradients, so it keeps the PyTorch module; both are the same weights (the export is checked
against the ``.pt`` it was made from, by its sha256 and by ``tests/unit/test_grading_runtime.py``).

Both networks take and return numpy arrays, and the ONNX one never imports PyTorch: a CLI run
that only grades starts in about 2 s instead of 5.5 s (``python -m kneeai.bench throughput``).

``KNEEAI_RUNTIME=torch`` forces PyTorch (for comparison, or where onnxruntime is not installed).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

__all__ = ["Network", "TorchNetwork", "OnnxNetwork", "ONNX_FILE", "ONNX_TOLERANCE", "RUNTIME_ENV",
           "cpu_threads", "load_network", "onnx_session", "resolve_module", "shipped_session"]

log = logging.getLogger(__name__)

ONNX_FILE = "kl_grader.onnx"
RUNTIME_ENV = "KNEEAI_RUNTIME"
# Largest absolute difference allowed between the two runtimes' logits and features (float32
# summation order differs; measured below 1e-5 on val crops).
ONNX_TOLERANCE = 1e-4
# Images per ONNX Runtime call: larger batches amortise its per-call overhead (8, 16 and 32 ran
# at the same speed on 2 cores; 32 keeps the activations within a few hundred MB).
ONNX_CHUNK = 32
FEATURES = 1280


class Network(Protocol):
    """Pooled penultimate features (n, 1280) and logits (n, 5), float32, of a normalised input
    batch (n, 3, S, S) float32 (:func:`kneeai.grading.inputs.input_array`)."""

    name: str

    def features_and_logits(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class TorchNetwork:
    """The PyTorch module, fetched from ``model`` (a module, or a function that loads it) only
    when a pass is first run."""

    model: object
    name: str = "torch"

    def module(self):
        return resolve_module(self.model)

    def features_and_logits(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from kneeai.grading.model import FORWARD_CHUNK, features_and_logits

        t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).contiguous(memory_format=torch.channels_last)
        f, lg = features_and_logits(self.module(), t, FORWARD_CHUNK)
        return f.numpy(), lg.numpy()


@dataclass(frozen=True)
class OnnxNetwork:
    session: object  # onnxruntime.InferenceSession
    name: str = "onnxruntime"

    def features_and_logits(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arr = np.ascontiguousarray(x, np.float32)
        feats, logits = [], []
        for i in range(0, len(arr), ONNX_CHUNK):
            f, lg = self.session.run(None, {"x": arr[i : i + ONNX_CHUNK]})
            feats.append(f)
            logits.append(lg)
        if not feats:
            return np.zeros((0, FEATURES), np.float32), np.zeros((0, 5), np.float32)
        return np.concatenate(feats), np.concatenate(logits)


def resolve_module(model):
    """A module given as itself, or as the function that loads it (called, and cached by it)."""
    return model() if callable(model) and not hasattr(model, "parameters") else model


def cpu_threads() -> int:
    """The cores this process may use (what PyTorch would pick, without importing it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def onnx_session(path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or cpu_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # Idle pool threads sleep instead of spinning: on films the intake threads run the centring
    # passes while the main thread grades, and spinning threads took the cores the other pass
    # needed (154 films: 75.5 s spinning, 64.9 s not; 1656 crops: 46.8 s and 48.4 s, within noise).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def shipped_session(name: str, weights_dir=None, instead: str = "") -> tuple[object, str] | None:
    """An optional network of ``weights/`` (ONNX, sha256-checked): its session and model id, or None
    when the manifest does not list it or it is not usable (logged, with what is done ``instead``)."""
    from kneeai.errors import KneeAIError
    from kneeai.manifest import load_manifest, verified_path

    if name not in load_manifest(weights_dir):
        return None
    try:
        path, entry = verified_path(name, weights_dir)
        return onnx_session(path), entry["model_id"]
    except (KneeAIError, ImportError) as exc:
        log.warning("%s not usable (%s): %s.", name, getattr(exc, "key", exc), instead)
        return None


def load_network(model: Callable[[], object] | object, grader_sha256: str, weights_dir=None) -> Network:
    """ONNX Runtime on the shipped export of the grader with ``grader_sha256``, else the PyTorch
    ``model`` (a module, or a function that loads it)."""
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
