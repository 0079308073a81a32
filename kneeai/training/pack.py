"""Pack a dataset split into one file, for training on a remote GPU machine.

    python -m kneeai.training.pack --data ../shared/data/knee-kl --out runs/pack --quality 75

The GPU machines this project borrows take at most 64 MiB of files per call, and the lossless
WebP dataset is 212 MB. A pack holds every knee re-encoded as lossy WebP (quality 75 roughly
halves the size again, mean absolute error about 3.6 grey levels of 255, mostly the film's noise)
with its grade and file name. ``kneeai.training.train`` reads a pack folder wherever it reads the
dataset folder. Final validation numbers are always measured on the original lossless files.

The pack is a transport format, never committed (the dataset may not be copied into the repo).
"""
from __future__ import annotations

import argparse
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["pack_split", "read_pack", "PACK_SUFFIX"]

PACK_SUFFIX = ".pack.npz"


def _encode(path: Path, quality: int) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        buf = io.BytesIO()
        im.convert("L").save(buf, "WEBP", quality=quality, method=6)
    return buf.getvalue()


def pack_split(split_dir: Path, out_file: Path, quality: int, threads: int = 2) -> int:
    from kneeai.training.splits import list_split

    files, labels = list_split(split_dir)
    with ThreadPoolExecutor(threads) as pool:
        blobs = list(pool.map(lambda p: _encode(p, quality), files))
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(out_file, data=np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets=offsets,
             labels=np.array(labels, dtype=np.int64), names=np.array([p.name for p in files]),
             quality=np.int64(quality))
    return int(offsets[-1])


def read_pack(path: Path, threads: int = 8) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode a pack: (images uint8 (n, H, W), labels (n,), names)."""
    from PIL import Image

    z = np.load(path)
    data, off = z["data"], z["offsets"]

    def decode(i: int) -> np.ndarray:
        with Image.open(io.BytesIO(data[off[i]: off[i + 1]].tobytes())) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8)

    with ThreadPoolExecutor(threads) as pool:
        images = list(pool.map(decode, range(len(off) - 1)))
    return np.stack(images), z["labels"], [str(n) for n in z["names"]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.pack", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset folder with train/ and val/")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quality", type=int, default=75)
    ap.add_argument("--splits", nargs="+", default=["train", "val"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in a.splits:
        n = pack_split(Path(a.data) / split, out / f"{split}{PACK_SUFFIX}", a.quality, a.threads)
        print(f"{split}: {n / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
