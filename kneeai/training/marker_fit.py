"""Train the R / L marker reader (:mod:`kneeai.grading.marker`) on letters rendered here.

    python -m kneeai.training.marker_fit fit --data ../shared/data/knee-kl --run RUN [--init RUN0] [--ship]
    python -m kneeai.training.marker_fit ship --run RUN
    python -m kneeai.training.marker_fit films --films ../shared/data/knee-films-dev/films --run RUN

``fit`` renders "R" and "L" in the system's fonts (bare bright letters as lead markers look, or
boxed, light on dark or dark on light as viewers burn them in; tilted, mirrored, blurred) and other
text that is not a side marker (view names, dates, other letters, words with an R or an L in them),
pastes them on knee images (OAI crops, framed by black or white borders as films are), and trains
the small reader to put a peak on each side letter's centre. No real marker is used for training,
so the dev films' markers are a fair test: ``films`` reads every film of a folder, and its mirror
image, writes what it read and contact sheets of the letters to check by eye, and counts the films
whose sides the markers decide, and rightly (:func:`side_scores`: the films are taken to be shown
the usual way, which is checked by eye on the sheets).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from kneeai.grading.marker import (MARKER_FILE, MARKER_LETTERS, MARKER_SIDE, MARKER_STRIDE, MARKER_THRESHOLD,
                                   MarkerReader, decode_markers, sides_from_markers)

__all__ = ["PATCH", "render", "sample", "build_reader", "train", "evaluate_rendered", "read_films", "ship", "main"]

log = logging.getLogger(__name__)

# Training patches are this many pixels of the reader's input (a quarter of a film's long side).
PATCH = 128
# Letter heights in the reader's input (MARKER_SIDE = 512): 2-8% of a film's long side.
LETTER_HEIGHT = (7, 40)
# Text that is not a side marker. The words with an R or an L in them teach the reader that a side
# letter stands alone.
OTHER_TEXT = ("A", "P", "B", "K", "S", "W", "E", "F", "H", "N", "T", "X", "0", "1", "2", "3", "7", "AP", "PA", "WB",
              "KNEE", "LAT", "ERECT", "STANDING", "BILAT", "LAT 2", "ORTHO", "2026-01-05", "10:42", "ID 4471",
              "kV 60", "mAs 5", "1:1", "AB", "MR", "PL")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
_SKIP_FONTS = ("Math", "Symbol", "Emoji")


@lru_cache(maxsize=1)
def fonts() -> tuple[str, ...]:
    """The system's TrueType/OpenType fonts (training only: the shipped reader needs none)."""
    found = sorted(str(p) for d in _FONT_DIRS if Path(d).is_dir() for p in Path(d).rglob("*")
                   if p.suffix.lower() in (".ttf", ".otf", ".ttc") and not any(s in p.name for s in _SKIP_FONTS))
    return tuple(found)


def _font(rng: np.random.Generator, size: int):
    names = fonts()
    return _load_font(str(rng.choice(names)) if names else "", size)


@lru_cache(maxsize=4096)
def _load_font(name: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(name, size=size) if name else ImageFont.load_default(size=size)


def _ink(text: str, height: int, rng: np.random.Generator) -> np.ndarray:
    """``text`` drawn in a random font, cropped to its ink, scaled so its capitals are ``height``
    pixels high; float32 coverage in [0, 1]."""
    from PIL import Image, ImageDraw

    size = max(int(height * 1.45), 8)
    font = _font(rng, size)
    canvas = Image.new("L", (size * (len(text) + 2), size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 3), text, fill=255, font=font,
                                stroke_width=int(rng.random() < 0.25))
    ink = np.asarray(canvas, np.float32) / 255
    rows, cols = np.nonzero(ink > 0.2)
    if not len(rows):
        return np.ones((height, max(height // 2, 1)), np.float32)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    f = height / ink.shape[0]
    w = max(int(round(ink.shape[1] * f * rng.uniform(0.8, 1.2))), 2)
    return np.asarray(Image.fromarray(ink, "F").resize((w, height), Image.Resampling.BILINEAR)).clip(0, 1)


def render(text: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
    """A marker or label as it shows on a film: (value, opacity), float32 (h, w) in [0, 1], and
    whether it is a bare bright letter (which shows only on a darker background).

    Bare letters are bright (lead stops the beam), sometimes in a faint holder; boxed ones are a
    flat box with a letter light on dark or dark on light, with or without an outline."""
    from PIL import Image

    height = int(rng.uniform(*LETTER_HEIGHT))
    ink = _ink(text, height, rng)
    if rng.random() < 0.5:
        ink = ink[:, ::-1]  # read through the cassette, or the whole image mirrored on export
    style = rng.random()
    if style < 0.4:
        pad = int(height * rng.uniform(0.1, 0.4))
        value = np.full(np.add(ink.shape, 2 * pad), rng.uniform(0.75, 1.0), np.float32)
        alpha = np.zeros_like(value)
        alpha[pad : pad + ink.shape[0], pad : pad + ink.shape[1]] = ink * rng.uniform(0.6, 1.0)
        if rng.random() < 0.3:  # the plastic holder around a lead letter
            alpha = np.maximum(alpha, rng.uniform(0.05, 0.25))
    else:
        pad = int(height * rng.uniform(0.15, 0.6))
        box = float(rng.uniform(0, 1))
        letter = float(rng.uniform(min(box + 0.3, 1), 1) if box < 0.5 else rng.uniform(0, max(box - 0.3, 0)))
        value = np.full(np.add(ink.shape, 2 * pad), box, np.float32)
        value[pad : pad + ink.shape[0], pad : pad + ink.shape[1]] += ink * (letter - box)
        if style > 0.8:
            line = float(rng.uniform(0, 1))
            value[[0, -1], :] = line
            value[:, [0, -1]] = line
        alpha = np.full(value.shape, rng.uniform(0.7, 1.0) if rng.random() < 0.3 else 1.0, np.float32)
    angle = float(rng.uniform(-20, 20))
    if abs(angle) > 4:
        value = np.asarray(Image.fromarray(value, "F").rotate(angle, Image.Resampling.BILINEAR, expand=True))
        alpha = np.asarray(Image.fromarray(alpha, "F").rotate(angle, Image.Resampling.BILINEAR, expand=True))
    return value.astype(np.float32), alpha.clip(0, 1).astype(np.float32), style < 0.4


def _paste(img: np.ndarray, value: np.ndarray, alpha: np.ndarray, row: int, col: int) -> None:
    """Composite (value, alpha) onto ``img`` centred at (row, col), clipped to the image."""
    h, w = value.shape
    t, l = row - h // 2, col - w // 2
    t0, l0, t1, l1 = max(t, 0), max(l, 0), min(t + h, img.shape[0]), min(l + w, img.shape[1])
    if t1 <= t0 or l1 <= l0:
        return
    v, a = value[t0 - t : t1 - t, l0 - l : l1 - l], alpha[t0 - t : t1 - t, l0 - l : l1 - l]
    img[t0:t1, l0:l1] = img[t0:t1, l0:l1] * (1 - a) + v * a


def backgrounds(data: Path, n: int, seed: int) -> list[np.ndarray]:
    """``n`` knee images at the reader's scale: OAI training crops (every grade), resized as a knee
    shows on a film read at MARKER_SIDE (about 120-420 pixels), normalised as the reader's input,
    some framed by a black or white border as films are."""
    from PIL import Image

    from kneeai.imaging.preprocess import normalize_intensity_array
    from kneeai.training.splits import IMAGE_SUFFIXES

    rng = np.random.default_rng(seed)
    paths = sorted(p for p in (data / "train").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    out = []
    for p in rng.choice(paths, size=min(n, len(paths)), replace=False):
        im = Image.open(p).convert("F")
        side = int(rng.uniform(120, 420))
        px = normalize_intensity_array(np.asarray(im.resize((side, side), Image.Resampling.BILINEAR))[None])[0]
        if rng.random() < 0.5:
            frame = int(rng.uniform(0.1, 0.6) * side)
            canvas = np.full((side + 2 * frame, side + 2 * frame), 0.0 if rng.random() < 0.8 else 1.0, np.float32)
            canvas[frame : frame + side, frame : frame + side] = px
            px = canvas
        out.append(px.astype(np.float32))
    return out


def _gauss(target: np.ndarray, channel: int, row: float, col: float, sigma: float = 0.7) -> None:
    g = target.shape[1]
    rr, cc = np.mgrid[0:g, 0:g]
    r, c = row / MARKER_STRIDE - 0.5, col / MARKER_STRIDE - 0.5
    target[channel] = np.maximum(target[channel], np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * sigma**2)))
    target[channel, int(np.clip(round(r), 0, g - 1)), int(np.clip(round(c), 0, g - 1))] = 1.0


def sample(bgs: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training patch (PATCH, PATCH) in [0, 1] and its target heatmaps (2, G, G), G = PATCH / stride:
    a background cut, up to two side letters, up to three other texts, then the film's look
    (gamma, contrast, blur, noise)."""
    from scipy.ndimage import gaussian_filter

    bg = bgs[int(rng.integers(len(bgs)))]
    if min(bg.shape) < PATCH:
        bg = np.pad(bg, [(0, max(PATCH - bg.shape[0], 0)), (0, max(PATCH - bg.shape[1], 0))])
    t, l = int(rng.integers(bg.shape[0] - PATCH + 1)), int(rng.integers(bg.shape[1] - PATCH + 1))
    img = bg[t : t + PATCH, l : l + PATCH].copy()
    if rng.random() < 0.5:
        img = img[:, ::-1].copy()
    g = PATCH // MARKER_STRIDE
    target = np.zeros((len(MARKER_LETTERS), g, g), np.float32)
    for text in [str(rng.choice(OTHER_TEXT)) for _ in range(int(rng.integers(0, 3)))]:
        value, alpha, _ = render(text, rng)
        _paste(img, value, alpha, int(rng.integers(PATCH)), int(rng.integers(PATCH)))
    for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
        k = int(rng.integers(len(MARKER_LETTERS)))
        value, alpha, bare = render(MARKER_LETTERS[k], rng)
        spots = rng.integers(2, PATCH - 2, size=(6 if bare else 1, 2))
        # A lead letter lies beside the leg, where it shows: of a few places, the darkest.
        row, col = min(spots.tolist(), key=lambda rc: img[max(rc[0] - 8, 0) : rc[0] + 8, max(rc[1] - 8, 0) : rc[1] + 8].mean())
        if bare and img[max(row - 8, 0) : row + 8, max(col - 8, 0) : col + 8].mean() > 0.55:
            continue  # no dark place here: a bright letter would not show
        _paste(img, value, alpha, row, col)
        _gauss(target, k, row, col)
    img = img.clip(0, 1) ** float(np.exp(rng.uniform(-0.4, 0.4)))
    img = (img - 0.5) * rng.uniform(0.7, 1.2) + 0.5 + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.3:
        img = gaussian_filter(img, rng.uniform(0.3, 1.2))
    img = img + rng.normal(0, rng.uniform(0, 0.04), img.shape)
    return img.clip(0, 1).astype(np.float32), target


def build_reader():
    """The reader: six 3x3 convolutions to stride 8 (the last two dilated, to see a whole 40-pixel
    letter with its surroundings) and a 1x1 to the two letters' heatmap logits."""
    import torch
    from torch import nn

    def conv(cin, cout, stride=1, dilation=1):
        return [nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    out = nn.Conv2d(40, len(MARKER_LETTERS), 1)
    with torch.no_grad():
        out.bias.fill_(-4.0)  # letters are rare: start every cell near "none"
    return nn.Sequential(*conv(1, 12, 2), *conv(12, 16, 2), *conv(16, 32, 2), *conv(32, 40), *conv(40, 40, dilation=2),
                         *conv(40, 40, dilation=4), out)


def focal_loss(logits, target):
    """CenterNet's focal loss on the heatmaps, per letter centre."""
    import torch

    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp_min(1.0)


def make_set(bgs: list[np.ndarray], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pairs = [sample(bgs, rng) for _ in range(n)]
    return np.stack([p[0] for p in pairs]).astype(np.float16), np.stack([p[1] for p in pairs]).astype(np.float16)


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int, lr: float = 3e-3, batch: int = 64, init=None):
    import torch

    from kneeai.training.small_loop import one_cycle

    torch.manual_seed(seed)
    net = build_reader() if init is None else init
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return one_cycle(net, len(x), epochs, lr, lambda: torch.randperm(len(x), generator=gen),
                     lambda idx: focal_loss(net(xt[idx].float()[:, None] - 0.5), yt[idx].float()), batch=batch)


def _torch_reader(net):
    import torch

    class _Session:
        def get_inputs(self):
            return [type("I", (), {"name": "film"})()]

        def run(self, _names, feeds):
            with torch.inference_mode():
                return [net(torch.from_numpy(feeds["film"])).numpy()]

    return MarkerReader(_Session(), "training")


def _peaks(target: np.ndarray) -> list[tuple[int, int, int]]:
    return [(int(k), int(r), int(c)) for k, r, c in np.argwhere(target == 1)]


def evaluate_rendered(net, x: np.ndarray, y: np.ndarray, thresholds=(0.3, 0.4, 0.5, 0.6, 0.7)) -> dict:
    """On held-out rendered patches: per threshold, the share of side letters found with the right
    letter within one cell, the share found as the other letter, and false letters per patch."""
    import torch

    with torch.inference_mode():
        logits = torch.cat([net(torch.from_numpy(x[i : i + 256]).float()[:, None] - 0.5)
                            for i in range(0, len(x), 256)]).numpy()
    out = {}
    for t in thresholds:
        hit = wrong = extra = n = 0
        for lg, tg in zip(logits, y.astype(np.float32)):
            truth = _peaks(tg)
            n += len(truth)
            found = decode_markers(lg, 1.0, t)
            used = set()
            for k, r, c in truth:
                near = [j for j, m in enumerate(found) if j not in used
                        and abs(m.row / MARKER_STRIDE - 0.5 - r) <= 1 and abs(m.col / MARKER_STRIDE - 0.5 - c) <= 1]
                if near:
                    used.add(near[0])
                    if found[near[0]].letter == MARKER_LETTERS[k]:
                        hit += 1
                    else:
                        wrong += 1
            extra += len(found) - len(used)
        out[str(t)] = {"letters": n, "found_right": hit / max(n, 1), "found_wrong_letter": wrong / max(n, 1),
                       "false_per_patch": extra / len(x)}
    return out


def fit(args: argparse.Namespace) -> dict:
    import torch

    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    bgs = backgrounds(Path(args.data), args.backgrounds, args.seed)
    x, y = make_set(bgs, args.samples, args.seed + 1)
    held_bgs = backgrounds(Path(args.data), max(args.backgrounds // 4, 8), args.seed + 100)
    xv, yv = make_set(held_bgs, max(args.samples // 10, 64), args.seed + 2)
    log.info("rendered %d + %d patches (%.0f s)", len(x), len(xv), time.time() - t0)
    net = train(x, y, args.epochs, args.seed, lr=args.lr, init=load_run(Path(args.init)) if args.init else None)
    torch.save(net.state_dict(), run / "reader.pt")
    result = {"samples": len(x), "epochs": args.epochs, "seed": args.seed, "lr": args.lr, "init": args.init, "rendered_heldout": evaluate_rendered(net, xv, yv),
              "seconds": round(time.time() - t0, 1)}
    (run / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.ship:
        result["shipped"] = ship(net, run, Path(args.weights_dir) if args.weights_dir else None)
    return result


def load_run(run: Path):
    import torch

    net = build_reader()
    net.load_state_dict(torch.load(run / "reader.pt", weights_only=True))
    return net.eval()


def ship(net, run: Path, weights_dir: Path | None = None) -> dict:
    """Export the reader to ONNX into ``weights/`` and register it."""
    from kneeai.config import SETTINGS
    from kneeai.manifest import register, sha256_file
    from kneeai.training.onnx_export import export_checked

    wdir = weights_dir or SETTINGS.weights_dir
    path = wdir / MARKER_FILE
    export_checked(net.eval(), path, (2, 1, MARKER_SIDE, MARKER_SIDE - 8 * MARKER_STRIDE), "film", "letters", "marker reader",
                   any_size=True)
    model_id = f"marker-reader-{sha256_file(path)[:8]}"
    return register(MARKER_FILE, {"kind": "marker_reader", "model_id": model_id, "input_size": MARKER_SIDE,
                                  "stride": MARKER_STRIDE, "letters": list(MARKER_LETTERS),
                                  "format": "ONNX opset 17 (R and L heatmap logits)",
                                  "trained_on": "rendered letters on OAI knee crops (run " + run.name + ")"}, wdir)


def read_films(args: argparse.Namespace) -> dict:
    """Read the markers of every film as given and mirrored, and count the sides they decide."""
    from kneeai.training.films import iter_film_knees

    films, run = Path(args.films), Path(args.run)
    reader = _torch_reader(load_run(run)) if not args.shipped else None
    if reader is None:
        from kneeai.grading.marker import load_marker_reader

        reader = load_marker_reader()
    rows, t_read = [], 0.0
    for path, rad, found in iter_film_knees(films, "film"):
        name = str(path.relative_to(films))
        cols = [k.box.left + k.box.width / 2 for k in found]
        w = rad.shape[1]
        t = time.time()
        read = reader(rad.pixels, args.threshold)
        mirrored = reader(rad.pixels[:, ::-1], args.threshold)
        t_read += time.time() - t
        rows.append({"film": name, "shape": list(rad.shape), "knee_cols": cols,
                     "markers": [[m.letter, round(m.row), round(m.col), round(m.score, 3)] for m in read],
                     "sides": sides_from_markers(read, cols),
                     "mirrored_sides": sides_from_markers(mirrored, sorted(w - c for c in cols))})
    result = {"films": len(rows), "threshold": args.threshold, "ms_per_read": round(1000 * t_read / max(2 * len(rows), 1), 1),
              **side_scores(rows), "per_film": rows}
    (run / "films.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.sheets:
        contact_sheets(films, rows, run / "sheets")
    return result


def side_scores(rows: list[dict]) -> dict:
    """How many films the markers decide, and how many of those they decide as the film's position
    does (the dev films are all shown the usual way: the patient's right knee on the viewer's left,
    checked by eye) and, for the mirrored copies, the other way round."""
    two = [r for r in rows if len(r["knee_cols"]) == 2]
    one = [r for r in rows if len(r["knee_cols"]) == 1]

    def count(sel, key, want):
        decided = [r for r in sel if r[key] is not None]
        return {"films": len(sel), "decided": len(decided), "right": sum(r[key] == want for r in decided)}

    return {"bilateral_as_given": count(two, "sides", ["R", "L"]),
            "bilateral_mirrored": count(two, "mirrored_sides", ["L", "R"]),
            "single_knee_decided": sum(r["sides"] is not None for r in one), "single_knee_films": len(one)}


def contact_sheets(films: Path, rows: list[dict], out: Path, per_sheet: int = 20, tile: int = 300) -> None:
    """Each film with the letters read (green R, orange L, with their scores), to check by eye."""
    from PIL import Image, ImageDraw

    out.mkdir(parents=True, exist_ok=True)
    for s in range(0, len(rows), per_sheet):
        sheet = Image.new("RGB", (5 * tile, 4 * (tile + 16)), "black")
        draw = ImageDraw.Draw(sheet)
        for i, r in enumerate(rows[s : s + per_sheet]):
            im = Image.open(films / r["film"]).convert("RGB")
            f = tile / max(im.size)
            im = im.resize((max(int(im.size[0] * f), 1), max(int(im.size[1] * f), 1)))
            x, y = (i % 5) * tile, (i // 5) * (tile + 16)
            sheet.paste(im, (x, y))
            for letter, row, col, score in r["markers"]:
                cx, cy = x + col * f, y + row * f
                colour = (0, 255, 0) if letter == "R" else (255, 140, 0)
                draw.rectangle([cx - 9, cy - 9, cx + 9, cy + 9], outline=colour, width=2)
                draw.text((cx + 11, cy - 6), f"{letter} {score:.2f}", fill=colour)
            draw.text((x + 2, y + tile + 2), f"{r['film']} sides {r['sides']} mirrored {r['mirrored_sides']}", fill="white")
        sheet.save(out / f"sheet_{s // per_sheet:02d}.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.marker_fit", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="render letters, train the reader, score it on held-out renders")
    f.add_argument("--data", required=True, help="the knee-kl folder (its train/ crops are the backgrounds)")
    f.add_argument("--run", required=True)
    f.add_argument("--samples", type=int, default=16000)
    f.add_argument("--backgrounds", type=int, default=600)
    f.add_argument("--epochs", type=int, default=8)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--lr", type=float, default=3e-3)
    f.add_argument("--init", default="", help="a fit run to train further (its reader.pt)")
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--ship", action="store_true", help="export to ONNX into weights/ and register it")
    f.add_argument("--weights-dir", default="")
    sh = sub.add_parser("ship", help="export a fit run's reader to ONNX into weights/ and register it")
    sh.add_argument("--run", required=True)
    sh.add_argument("--weights-dir", default="")
    r = sub.add_parser("films", help="read the markers of every film (and its mirror image)")
    r.add_argument("--films", required=True)
    r.add_argument("--run", required=True, help="a fit run (its reader.pt), where films.json is written")
    r.add_argument("--shipped", action="store_true", help="read with the shipped ONNX reader instead")
    r.add_argument("--threshold", type=float, default=MARKER_THRESHOLD)
    r.add_argument("--sheets", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.cmd == "ship":
        result = ship(load_run(Path(args.run)), Path(args.run), Path(args.weights_dir) if args.weights_dir else None)
    else:
        result = fit(args) if args.cmd == "fit" else read_films(args)
    print(json.dumps({k: v for k, v in result.items() if k != "per_film"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
