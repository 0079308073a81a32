"""The grader split in two at a block boundary: a frozen trunk (stem and first N MBConv blocks, at
their ImageNet weights) and the trained rest. A high-resolution epoch on the CPU spends most of its
time in the trunk (at 320 px: 1.5 s of a 4 s step for blocks 0-4 in chunks of 4), so
:func:`view_cache` runs the trunk once per augmented view of the training set and training then runs
only the rest on the stored features (``--cache-views``)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["TRUNK_CHUNK", "trunk_features", "rest_logits", "view_cache"]

# Images per trunk pass: on the 2-core CPU a batch of 32 took 2.8 s through stem and blocks 0-4 at
# 320 px, in chunks of 8 1.9 s and in chunks of 4 1.55 s (large activations fall out of cache).
TRUNK_CHUNK = 4


def _drop_connect(model: nn.Module, idx: int) -> float:
    # The rate the network's own forward gives block ``idx`` (it grows with depth).
    rate = model._global_params.drop_connect_rate
    return rate * idx / len(model._blocks) if rate else rate


def trunk_features(model: nn.Module, x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """Stem and the first ``n_blocks`` MBConv blocks of ``model`` on network input ``x``."""
    h = model._swish(model._bn0(model._conv_stem(x)))
    for idx in range(n_blocks):
        h = model._blocks[idx](h, drop_connect_rate=_drop_connect(model, idx))
    return h


def rest_logits(model: nn.Module, h: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """The blocks after the first ``n_blocks``, the head and the classifier, on trunk features ``h``:
    ``rest_logits(m, trunk_features(m, x, n), n)`` is ``m(x)``."""
    for idx in range(n_blocks, len(model._blocks)):
        h = model._blocks[idx](h, drop_connect_rate=_drop_connect(model, idx))
    h = model._swish(model._bn1(model._conv_head(h)))
    return model._fc(model._dropout(h.mean((2, 3))))


def view_cache(model: nn.Module, n_images: int, view: Callable[[torch.Tensor], torch.Tensor], n_blocks: int,
               batch: int = 32) -> torch.Tensor:
    """The trunk's features of one augmented view of a whole training set, in bfloat16 (half the
    memory; the features are read back as float32).

    ``view(indices)`` returns the network input of those images, augmented; it is called on
    consecutive slices of ``batch`` so that the random stream is consumed as in a training epoch.
    The trunk runs in eval mode: its batch norm keeps the ImageNet statistics, as when training
    with those blocks frozen."""
    trunk_modules = [model._conv_stem, model._bn0, *model._blocks[:n_blocks]]
    modes = [m.training for m in trunk_modules]
    for m in trunk_modules:
        m.eval()
    out = None
    try:
        with torch.no_grad():
            for i in range(0, n_images, batch):
                x = view(torch.arange(i, min(i + batch, n_images)))
                for j in range(0, len(x), TRUNK_CHUNK):
                    h = trunk_features(model, x[j : j + TRUNK_CHUNK], n_blocks)
                    if out is None:
                        out = torch.empty((n_images, *h.shape[1:]), dtype=torch.bfloat16)
                    out[i + j : i + j + len(h)] = h.to(torch.bfloat16)
    finally:
        for m, mode in zip(trunk_modules, modes):
            m.train(mode)
    return out
