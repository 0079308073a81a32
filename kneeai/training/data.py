"""A split of the dataset decoded into one uint8 tensor, for training and evaluation: read from
its folder (:mod:`kneeai.training.splits`) or, where the folder is absent, from its pack
(:mod:`kneeai.training.pack`, what a GPU machine with little disk gets)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kneeai.grading.model import NUM_GRADES
from kneeai.training.pack import PACK_SUFFIX, read_pack
from kneeai.training.splits import list_split

__all__ = ["split_pack", "load_split", "turn_negatives"]


def split_pack(root: Path) -> Path | None:
    """The pack that stands in for split folder ``root`` when the folder itself is absent."""
    pack = root.with_name(root.name + PACK_SUFFIX)
    return pack if not root.is_dir() and pack.exists() else None


def load_split(root: Path, limit_per_grade: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode every knee of a split into a uint8 tensor, shape = (n, size, size).

    ``root`` is a split folder, or a folder path whose sibling ``<split>.pack.npz`` exists
    (see :mod:`kneeai.training.pack`).
    """
    from PIL import Image

    pack = split_pack(root)
    if pack is not None:
        images, labels, names = read_pack(pack)
        if limit_per_grade:
            keep = np.concatenate([np.flatnonzero(labels == g)[:limit_per_grade] for g in range(NUM_GRADES)])
            images, labels, names = images[keep], labels[keep], [names[i] for i in keep]
        return torch.from_numpy(images), torch.from_numpy(labels), names
    files, labels = list_split(root, limit_per_grade)
    images = []
    for p in files:
        with Image.open(p) as im:
            images.append(np.asarray(im.convert("L"), dtype=np.uint8))
    return torch.from_numpy(np.stack(images)), torch.tensor(labels), [p.name for p in files]


def turn_negatives(images: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """The split with its negative images (bone dark) turned back, as the pipeline turns them before
    grading (:func:`kneeai.pipeline.reads_negative`), and the indices turned. The OAI set files 70
    train and 14 val knees as negatives (``docs/polarity.md``)."""
    from kneeai.pipeline import reads_negative

    turned = [i for i in range(len(images)) if reads_negative(images[i].numpy().astype(np.float32) / 255.0)]
    out = images.clone()
    if turned:
        out[turned] = 255 - out[turned]
    return out, turned
