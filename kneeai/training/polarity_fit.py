"""Train the negative-image check of :mod:`kneeai.grading.polarity` (release tooling)::

    python -m kneeai.training.polarity_fit collect --data ../shared/data/knee-kl --films ../shared/data/knee-films-dev/films --run RUN
    python -m kneeai.training.polarity_fit fit --run RUN [--ship]

``collect`` decodes the OAI train and val knees and cuts every knee the film pipeline finds on the
dev films (``RUN/crops.npz``, at :data:`STORE_SIDE` pixels). ``fit`` (after turning back the OAI
set's own negatives, :func:`fit`) trains on the OAI train knees
and half of the dev films' knees (split by film), each shown as it is or inverted with even odds,
under the same random framing, borders (black or white), windowing, gamma, blur and noise for
both; it then scores val and the other half of the films, as they are, inverted and under fixed
changes of exposure and framing, and writes ``RUN/metrics.json``. The shipped network is then fitted
again on both halves of the films (``--ship``), with the same recipe and seed.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from kneeai.grading.polarity import NEGATIVE_THRESHOLD, POLARITY_FILE, POLARITY_SIDE, polarity_input

__all__ = ["STORE_SIDE", "build_net", "augment", "train", "collect", "fit", "probabilities", "ship", "main"]

log = logging.getLogger(__name__)

# Crops are stored at twice the network's input, so that framing changes resample real detail.
STORE_SIDE = 2 * POLARITY_SIDE


def build_net():
    """A four-block CNN (about 116 k weights) wrapped so that its logit is g(x) - g(-x)."""
    import torch
    from torch import nn

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                             nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                             nn.MaxPool2d(2))

    class Antisymmetric(nn.Module):
        def __init__(self):
            super().__init__()
            self.g = nn.Sequential(block(1, 16), block(16, 32), block(32, 48), block(48, 64),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))

        def forward(self, x):
            both = self.g(torch.cat([x, -x]))
            n = x.shape[0]
            return both[:n] - both[n:]

    return Antisymmetric()


def _resize(pixels: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(np.asarray(pixels, np.float32), mode="F").resize((side, side), Image.BOX), np.float32)


def augment(x, rng: np.random.Generator, strength: float = 1.0):
    """A batch (n, STORE_SIDE, STORE_SIDE) in [0, 1] -> (inputs (n, 1, 64, 64) standardised, labels):
    each knee inverted with even odds, then framed, bordered and exposed at random alike for both."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    y = torch.from_numpy((rng.random(n) < 0.5).astype(np.float32))
    x = torch.where(y[:, None, None] > 0, 1.0 - x, x)
    # Framing: zoom 0.7-1.5 (out of 1 shows a border), shift up to 15%, tilt up to 8 degrees; the
    # space outside the crop is black, white or the crop's edge.
    zoom = torch.from_numpy(np.exp(rng.uniform(np.log(0.7), np.log(1.5), n) * strength).astype(np.float32))
    ang = torch.from_numpy(np.deg2rad(rng.uniform(-8, 8, n) * strength).astype(np.float32))
    shift = torch.from_numpy(rng.uniform(-0.15, 0.15, (n, 2)).astype(np.float32) * strength)
    cos, sin = torch.cos(ang) * zoom, torch.sin(ang) * zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, STORE_SIDE, STORE_SIDE), align_corners=False)
    fill = torch.from_numpy(rng.choice([0.0, 1.0, -1.0], n).astype(np.float32))  # -1: the edge
    framed = F.grid_sample(x[:, None], grid, padding_mode="border", align_corners=False)
    inside = F.grid_sample(torch.ones_like(x[:, None]), grid, padding_mode="zeros", align_corners=False)
    flat = torch.where(fill >= 0, fill, 0.0)[:, None, None, None]
    x = torch.where((fill >= 0)[:, None, None, None], framed * inside + flat * (1 - inside), framed)[:, 0]
    # A border band as collimation leaves it, black or white, on up to two sides.
    for k in range(n):
        if rng.random() < 0.3 * strength:
            side, width, value = rng.integers(4), int(rng.uniform(0.03, 0.2) * STORE_SIDE), float(rng.choice([0.0, 1.0]))
            if side == 0:
                x[k, :width] = value
            elif side == 1:
                x[k, -width:] = value
            elif side == 2:
                x[k, :, :width] = value
            else:
                x[k, :, -width:] = value
    # Exposure: a window (black and white points) and a gamma, as viewers and exports apply them.
    lo = torch.from_numpy(rng.uniform(0, 0.2, n).astype(np.float32) * strength)[:, None, None]
    hi = torch.from_numpy(rng.uniform(0.8, 1.0, n).astype(np.float32) ** strength)[:, None, None]
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    gamma = torch.from_numpy(np.exp(rng.uniform(np.log(0.5), np.log(2.0), n) * strength).astype(np.float32))[:, None, None]
    x = x.clamp_min(1e-4) ** gamma
    if rng.random() < 0.5:
        x = torch.flip(x, dims=[2])
    x = F.avg_pool2d(x[:, None], STORE_SIDE // POLARITY_SIDE)
    x = x + torch.randn_like(x) * torch.from_numpy(rng.uniform(0, 0.04, n).astype(np.float32) * strength)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (x - mean) / std, y


def train(x: np.ndarray, epochs: int, seed: int, lr: float = 3e-3, batch: int = 64):
    import torch
    import torch.nn.functional as F

    from kneeai.training.small_loop import one_cycle

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net()
    xt = torch.from_numpy(x)

    def loss_of(idx):
        inputs, y = augment(xt[idx].float() / 255.0, rng)
        return F.binary_cross_entropy_with_logits(net(inputs)[:, 0], y)

    return one_cycle(net, len(x), epochs, lr, lambda: rng.permutation(len(x)), loss_of, batch=batch, pct_start=0.15)


def probabilities(net, crops: np.ndarray) -> np.ndarray:
    """p(negative) for crops (n, side, side) in [0, 1], each resampled and standardised as at run time."""
    import torch

    x = np.concatenate([polarity_input(c) for c in crops])
    with torch.inference_mode():
        return torch.sigmoid(torch.cat([net(torch.from_numpy(x[i:i + 256])) for i in range(0, len(x), 256)])[:, 0]).numpy()


# Fixed changes a clinic's export may bring, each scored as it is and inverted.
def _variants(crops: np.ndarray) -> dict[str, np.ndarray]:
    def border(c, value):
        out = c.copy()
        w = int(0.12 * c.shape[0])
        out[:, :w] = value
        out[:w] = value
        return out

    def zoom_out(c, value):
        side = c.shape[0]
        small = _resize(c, int(side * 0.7))
        out = np.full_like(c, value)
        o = (side - small.shape[0]) // 2
        out[o:o + small.shape[0], o:o + small.shape[0]] = small
        return out

    return {"as is": crops, "gamma 0.6": crops ** 0.6, "gamma 1.6": crops ** 1.6,
            "windowed 0.15-0.85": np.clip((crops - 0.15) / 0.7, 0, 1),
            "black border": np.stack([border(c, 0.0) for c in crops]), "white border": np.stack([border(c, 1.0) for c in crops]),
            "zoomed out, black": np.stack([zoom_out(c, 0.0) for c in crops]),
            "zoomed out, white": np.stack([zoom_out(c, 1.0) for c in crops])}


def score(net, crops: np.ndarray) -> dict:
    """Per variant: the largest p(negative) of the knees as they are, the smallest of the knees
    inverted, and the shares past :data:`NEGATIVE_THRESHOLD` (false refusals, negatives caught)."""
    out = {}
    for name, v in _variants(crops).items():
        normal, inverted = probabilities(net, v), probabilities(net, 1.0 - v)
        out[name] = {"n": int(len(v)), "normal_max_p": round(float(normal.max()), 4),
                     "normal_p99": round(float(np.quantile(normal, 0.99)), 4),
                     "normal_refused": round(float(np.mean(normal > NEGATIVE_THRESHOLD)), 4),
                     "inverted_min_p": round(float(inverted.min()), 4),
                     "inverted_caught": round(float(np.mean(inverted > NEGATIVE_THRESHOLD)), 4)}
    return out


def collect(args: argparse.Namespace) -> dict:
    """Decode the OAI knees and cut the dev films' knees, all at STORE_SIDE, into RUN/crops.npz."""
    from kneeai.training.data import load_split
    from kneeai.training.films import iter_film_knees

    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    parts, names = {}, {}
    for split in ("train", "val"):
        images, _, names[split] = load_split(Path(args.data) / split)
        parts[split] = np.stack([_resize(im.numpy() / 255.0, STORE_SIDE) for im in images])
    film_crops, film_ids = [], []
    for i, (_, _, found) in enumerate(iter_film_knees(Path(args.films), "film")):
        for k in found:
            film_crops.append(_resize(k.crop.pixels, STORE_SIDE))
            film_ids.append(i)
    to8 = {k: np.round(v * 255).astype(np.uint8) for k, v in parts.items()}
    np.savez_compressed(run / "crops.npz", train=to8["train"], val=to8["val"], train_names=np.array(names["train"]),
                        val_names=np.array(names["val"]),
                        films=np.round(np.stack(film_crops) * 255).astype(np.uint8), film_ids=np.array(film_ids))
    return {"train": len(to8["train"]), "val": len(to8["val"]), "film_knees": len(film_crops), "films": len(set(film_ids))}


def _upright(crops: np.ndarray, net) -> tuple[np.ndarray, np.ndarray]:
    """``crops`` (uint8) with those ``net`` finds negative turned back, and which they were."""
    negative = probabilities(net, crops / 255.0) > 0.5
    out = crops.copy()
    out[negative] = 255 - out[negative]
    return out, negative


def fit(args: argparse.Namespace) -> dict:
    """Two rounds. The OAI set itself holds negatives (about 1.2% of train, filed like the rest:
    checked by eye on contact sheets, docs/polarity.md), which would teach the network that a
    negative is a normal knee; so a first, short round finds them, they are turned back, and the
    network is trained again on the corrected knees."""
    import torch

    torch.set_num_threads(args.threads)
    run = Path(args.run)
    data = np.load(run / "crops.npz")
    train_x, val_x, films, ids = data["train"], data["val"], data["films"], data["film_ids"]
    held = ids % 2 == 1  # every other film held out, split by film so a film's two knees stay together
    t0 = time.time()
    first = train(np.concatenate([train_x, films[~held]]), args.first_epochs, args.seed, args.lr)
    train_x, train_neg = _upright(train_x, first)
    val_x, val_neg = _upright(val_x, first)
    net = train(np.concatenate([train_x, films[~held]]), args.epochs, args.seed, args.lr)
    result = {"epochs": args.epochs, "first_epochs": args.first_epochs, "seed": args.seed, "threshold": NEGATIVE_THRESHOLD,
              "oai_negatives": {"train": sorted(str(n) for n in data["train_names"][train_neg]),
                                "val": sorted(str(n) for n in data["val_names"][val_neg])},
              "oai_negatives_still_found": {"train": int((probabilities(net, train_x / 255.0) > 0.5).sum()),
                                            "val": int((probabilities(net, val_x / 255.0) > 0.5).sum())},
              "val": score(net, val_x / 255.0), "films_held_out": score(net, films[held] / 255.0),
              "films_held_out_count": int(len(set(ids[held])))}
    torch.save(net.state_dict(), run / "polarity_half.pt")
    if args.ship:
        final = train(np.concatenate([train_x, films]), args.epochs, args.seed, args.lr)
        torch.save(final.state_dict(), run / "polarity.pt")
        result["final_val"] = score(final, val_x / 255.0)
        result["shipped"] = ship(final, run, Path(args.weights_dir) if args.weights_dir else None)
    result["train_seconds"] = round(time.time() - t0)
    (run / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


def ship(net, run: Path, weights_dir: Path | None = None) -> dict:
    """Export the network to ONNX into ``weights/`` and register it."""
    from kneeai.config import SETTINGS
    from kneeai.manifest import register, sha256_file
    from kneeai.training.onnx_export import export_checked

    wdir = weights_dir or SETTINGS.weights_dir
    path = wdir / POLARITY_FILE
    export_checked(net.eval(), path, (2, 1, POLARITY_SIDE, POLARITY_SIDE), "crop", "negative_logit", "polarity network")
    model_id = f"polarity-{sha256_file(path)[:8]}"
    return register(POLARITY_FILE, {"kind": "polarity", "model_id": model_id, "input_size": POLARITY_SIDE,
                                    "format": "ONNX opset 17 (logit that the crop is a negative)",
                                    "trained_on": "OAI train knees and knee-films-dev knees, each as is and inverted (run "
                                                  + run.name + ")"}, wdir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.polarity_fit", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="decode the OAI knees and cut the dev films' knees into RUN/crops.npz")
    c.add_argument("--data", required=True, help="the knee-kl folder")
    c.add_argument("--films", required=True, help="a folder of whole films (knee-films-dev/films)")
    c.add_argument("--run", required=True)
    f = sub.add_parser("fit", help="train on train knees and half the films, score val and the other half")
    f.add_argument("--run", required=True)
    f.add_argument("--epochs", type=int, default=6)
    f.add_argument("--first-epochs", type=int, default=3, help="the round that finds the OAI set's own negatives")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--lr", type=float, default=3e-3)
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("--ship", action="store_true", help="train again on all films, export to ONNX into weights/, register")
    f.add_argument("--weights-dir", default="")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = collect(args) if args.cmd == "collect" else fit(args)
    print(json.dumps({k: v for k, v in result.items() if k != "oai_negatives"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
