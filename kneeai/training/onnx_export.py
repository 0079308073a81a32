"""Export the shipped grader to ONNX for ONNX Runtime, and register it in the manifest.

    python -m kneeai.training.onnx_export [--weights-dir weights]

The export's graph returns the pooled penultimate features and the logits (what
:mod:`kneeai.grading.runtime` reads); its manifest entry names the ``.pt`` sha256 it was made
from, so a re-shipped grader without a fresh export falls back to PyTorch instead of grading with
stale weights. The export is checked against PyTorch on random input before it is registered.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from kneeai.grading.runtime import ONNX_FILE, ONNX_TOLERANCE, onnx_session

__all__ = ["export", "export_checked", "main"]


class _FeaturesAndLogits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        f = self.model.extract_features(x).mean((2, 3))
        return f, self.model._fc(f)


def export_checked(net: torch.nn.Module, path: Path, example_shape: tuple[int, ...], input_name: str,
                   output_name: str, what: str, any_size: bool = False) -> None:
    """Export ``net`` (one input -> one output, batch axis dynamic; with ``any_size`` the image
    axes too) to ONNX at ``path`` and check that ONNX Runtime gives PyTorch's output on random
    input; on a mismatch the file is removed."""
    import warnings

    import numpy as np

    x = torch.randn(*example_shape, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        # The TorchScript exporter (deprecated, but it needs only the `onnx` package; the graphs are
        # plain convolutions); it also warns that static "same" padding's slices are not
        # constant-folded. The output is checked below.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), input_names=[input_name], output_names=[output_name],
                          dynamic_axes={name: {0: "n", **({2: "h", 3: "w"} if any_size else {})}
                                        for name in (input_name, output_name)}, opset_version=17, dynamo=False)
    with torch.inference_mode():
        ref = net(x).numpy()
    diff = float(np.abs(onnx_session(path).run(None, {input_name: x.numpy()})[0] - ref).max())
    if diff > 10 * ONNX_TOLERANCE:
        path.unlink()
        raise SystemExit(f"ONNX export of the {what} differs from PyTorch by {diff:.2e}; not written")


def export(weights_dir: Path | None = None) -> dict:
    from kneeai.grading.weights import GRADER_FILE, load_grader
    from kneeai.manifest import register
    from kneeai.config import SETTINGS

    wdir = weights_dir or SETTINGS.weights_dir
    load_grader.cache_clear()
    grader = load_grader(GRADER_FILE, allow_placeholder=False)
    net = _FeaturesAndLogits(grader.model).eval()
    size = grader.input_size
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    out = wdir / ONNX_FILE
    # The TorchScript exporter needs only the `onnx` package; the graph is plain convolutions.
    torch.onnx.export(net, (x,), str(out), input_names=["x"], output_names=["features", "logits"],
                      dynamic_axes={"x": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    with torch.inference_mode():
        f_ref, l_ref = net(x)
    f, lg = onnx_session(out).run(None, {"x": x.numpy()})
    diff = max(float(abs(f - f_ref.numpy()).max()), float(abs(lg - l_ref.numpy()).max()))
    if diff > ONNX_TOLERANCE:
        out.unlink()
        raise SystemExit(f"ONNX export differs from PyTorch by {diff:.2e} (> {ONNX_TOLERANCE:g}); not registered")
    return register(ONNX_FILE, {"kind": "kl_grader_onnx", "for": GRADER_FILE, "source_sha256": grader.info.sha256,
                                "model_id": grader.info.model_id, "format": "ONNX opset 17 (features, logits)",
                                "max_abs_diff_vs_torch": diff}, wdir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kneeai.training.onnx_export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights-dir", type=Path, default=None)
    args = p.parse_args(argv)
    entry = export(args.weights_dir)
    print(f"{ONNX_FILE}: {entry['bytes']} bytes, sha256 {entry['sha256'][:12]}, max |diff| vs torch {entry['max_abs_diff_vs_torch']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
