"""Images that are not knee radiographs, for measuring the out-of-distribution gate.

Two sources:

- :func:`synthetic_samples`: generated here, seeded, so every machine gets the same set. Blank
  frames, detector noise, gradients, text screenshots, drawings of shapes, colour photo-like
  fields and textures, and cartoon chest and hand "films" (phantoms: a plausible layout of
  bright bone and dark air, blurred and noisy; they are not real anatomy).
- :func:`real_samples`: real non-knee pictures found on the machine (sample images shipped with
  installed Python packages, documentation figures, icons). What it finds depends on the
  machine, so the evaluation writes the list of files it used.

:func:`prosthesis_phantom` paints a metal knee replacement into a real knee crop, to test that
the gate flags it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kneeai.imaging.joint import find_joint_row
from kneeai.io.sniff import PICTURE_SUFFIXES

__all__ = [
    "OODSample",
    "synthetic_samples",
    "real_samples",
    "default_real_roots",
    "to_grey",
    "centre_square",
    "text_screenshot",
    "colour_field",
    "chest_phantom",
    "hand_phantom",
    "prosthesis_phantom",
]

SIZE = 224
# Non-knee pictures are read with Pillow directly, so formats intake refuses (GIF, BMP) count too.
IMAGE_SUFFIXES = PICTURE_SUFFIXES | {".gif", ".bmp"}


@dataclass(frozen=True)
class OODSample:
    """One non-knee image. ``rgb`` : ndarray, shape = (rows, cols, 3), float32 in [0, 1]."""

    name: str
    category: str
    rgb: np.ndarray


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, as Pillow's ``convert("L")`` computes it."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def centre_square(pixels: np.ndarray, size: int = SIZE) -> np.ndarray:
    """The largest centred square, resampled to ``size`` (what a user's crop box would give)."""
    from kneeai.imaging.crop import resample_square

    h, w = pixels.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return resample_square(pixels[top : top + s, left : left + s], size)


def _grey3(g: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(g, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    if x.ndim == 3:
        return np.stack([ndimage.gaussian_filter(x[..., c], sigma) for c in range(x.shape[2])], 2)
    return ndimage.gaussian_filter(x, sigma)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    return yy, xx


def text_screenshot(rng: np.random.Generator, dark: bool = False, font_size: int = 14) -> np.ndarray:
    """Lines of text on a flat background, like a screenshot of a report or a web page."""
    from PIL import Image, ImageDraw, ImageFont

    words = ("patient", "knee", "radiograph", "report", "findings", "joint", "space", "narrowing",
             "osteophyte", "grade", "left", "right", "normal", "mild", "moderate", "severe", "2024",
             "impression", "no", "acute", "fracture", "effusion", "follow-up", "clinic")
    bg, fg = ((30, 30, 30), (230, 230, 230)) if dark else ((255, 255, 255), (20, 20, 20))
    img = Image.new("RGB", (SIZE, SIZE), bg)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=font_size)
    y = 6
    if rng.random() < 0.5:  # a title bar, as on an application window
        draw.rectangle([0, 0, SIZE, 18], fill=(60, 90, 150) if not dark else (80, 80, 80))
        y = 24
    while y < SIZE - font_size:
        line = " ".join(rng.choice(words, size=int(rng.integers(3, 8))))
        draw.text((6, y), line, fill=fg, font=font)
        y += int(font_size * 1.4)
    return np.asarray(img, np.float32) / 255.0


def _shapes(rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 12))):
        box = sorted(rng.integers(0, SIZE, 2)), sorted(rng.integers(0, SIZE, 2))
        xy = [int(box[0][0]), int(box[1][0]), int(box[0][1]) + 2, int(box[1][1]) + 2]
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle(xy, fill=fill)
        elif kind == 1:
            draw.ellipse(xy, fill=fill)
        else:
            draw.line(xy, fill=fill, width=int(rng.integers(1, 6)))
    return np.asarray(img, np.float32) / 255.0


def colour_field(rng: np.random.Generator, scale: float = 12.0) -> np.ndarray:
    """A smooth random colour field with fine texture: the statistics of an out-of-focus photo."""
    base = _blur(rng.random((SIZE, SIZE, 3)).astype(np.float32), scale)
    base = (base - base.min()) / max(float(np.ptp(base)), 1e-6)
    texture = _blur(rng.normal(0, 1, (SIZE, SIZE, 1)).astype(np.float32), 1.0) * 0.05
    return np.clip(base * 0.8 + 0.1 + texture, 0, 1).astype(np.float32)


def _colour_texture(rng: np.random.Generator) -> np.ndarray:
    yy, xx = _grid()
    f = rng.uniform(3, 15, 3)
    phase = rng.uniform(0, 2 * np.pi, 3)
    chans = [0.5 + 0.5 * np.sin(2 * np.pi * (f[c] * (xx * np.cos(c) + yy * np.sin(c + 1))) + phase[c]) for c in range(3)]
    return np.clip(np.stack(chans, 2) + rng.normal(0, 0.03, (SIZE, SIZE, 3)), 0, 1).astype(np.float32)


def _film(g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur and quantum noise, so a phantom has a radiograph's texture."""
    g = _blur(g.astype(np.float32), 1.5)
    g = g + _blur(rng.normal(0, 0.04, g.shape).astype(np.float32), 0.7)
    return np.clip(g, 0, 1)


def chest_phantom(rng: np.random.Generator) -> np.ndarray:
    """A PA chest film cartoon: dark lungs, bright mediastinum and spine, ribs, clavicles."""
    yy, xx = _grid()
    g = np.full((SIZE, SIZE), 0.05, np.float32)
    body = ((xx - 0.5) / 0.47) ** 2 + ((yy - 0.55) / 0.6) ** 2 < 1
    g[body] = 0.55
    for cx in (0.3, 0.7):
        lung = ((xx - cx) / 0.16) ** 2 + ((yy - 0.5) / 0.32) ** 2 < 1
        g[lung] = 0.18
    heart = ((xx - 0.55) / 0.14) ** 2 + ((yy - 0.68) / 0.14) ** 2 < 1
    g[heart] = 0.6
    g[(np.abs(xx - 0.5) < 0.05) & body] = 0.75
    for k in range(9):  # ribs: arcs across the lung fields
        y0 = 0.2 + 0.075 * k + rng.normal(0, 0.005)
        for side in (-1, 1):
            curve = y0 + 0.12 * ((xx - 0.5) * side - 0.15) ** 2 * 4
            rib = (np.abs(yy - curve) < 0.012) & ((xx - 0.5) * side > 0.04) & ((xx - 0.5) * side < 0.42)
            g[rib] += 0.25
    for side in (-1, 1):
        clav = (np.abs(yy - (0.17 + 0.1 * np.abs(xx - 0.5))) < 0.015) & (np.abs(xx - 0.5) < 0.35) & ((xx - 0.5) * side > 0)
        g[clav] = 0.85
    return _grey3(_film(g, rng))


def hand_phantom(rng: np.random.Generator) -> np.ndarray:
    """A PA hand film cartoon: five rays of bright bones in soft tissue on a dark background."""
    from PIL import Image, ImageDraw

    tissue = Image.new("L", (SIZE, SIZE), 10)
    bone = Image.new("L", (SIZE, SIZE), 0)
    dt, db = ImageDraw.Draw(tissue), ImageDraw.Draw(bone)
    wrist = np.array([SIZE * 0.5, SIZE * 1.05])
    dt.ellipse([SIZE * 0.22, SIZE * 0.55, SIZE * 0.78, SIZE * 1.1], fill=90)
    for k, angle in enumerate(np.linspace(-0.75, 0.55, 5) + rng.normal(0, 0.03, 5)):
        direction = np.array([np.sin(angle), -np.cos(angle)])
        length = SIZE * (0.75 if k else 0.5)
        start = wrist + direction * SIZE * 0.2
        end = wrist + direction * length
        dt.line([tuple(start), tuple(end)], fill=90, width=int(SIZE * 0.09))
        segments = 4 if k else 3
        for s in range(segments):  # metacarpal and phalanges, with joint gaps
            a = start + (end - start) * (s / segments + 0.02)
            b = start + (end - start) * ((s + 1) / segments - 0.02)
            db.line([tuple(a), tuple(b)], fill=120, width=int(SIZE * 0.045))
    g = (np.asarray(tissue, np.float32) + np.asarray(bone, np.float32)) / 255.0
    return _grey3(_film(g, rng))


def synthetic_samples(seed: int = 0, per_kind: int = 6) -> list[OODSample]:
    """The synthetic out-of-distribution set; ``per_kind`` images of each of 14 kinds."""
    rng = np.random.default_rng(seed)
    yy, xx = _grid()
    out: list[OODSample] = []

    def add(category: str, rgb: np.ndarray) -> None:
        out.append(OODSample(f"{category}-{sum(s.category == category for s in out)}", category, rgb.astype(np.float32)))

    for i in range(per_kind):
        add("blank", _grey3(np.full((SIZE, SIZE), rng.uniform(0, 1), np.float32) + rng.normal(0, 0.002, (SIZE, SIZE))))
        add("noise-gaussian", _grey3(rng.normal(0.5, rng.uniform(0.05, 0.3), (SIZE, SIZE))))
        add("noise-uniform", _grey3(rng.random((SIZE, SIZE))))
        add("noise-salt-pepper", _grey3(np.where(rng.random((SIZE, SIZE)) < 0.5, 0.0, 1.0)))
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        add("gradient", _grey3((ramp - ramp.min()) / np.ptp(ramp)))
        add("gradient-radial", _grey3(1 - np.hypot(xx - rng.uniform(0.2, 0.8), yy - rng.uniform(0.2, 0.8))))
        add("text-light", text_screenshot(rng, dark=False, font_size=int(rng.integers(10, 20))))
        add("text-dark", text_screenshot(rng, dark=True, font_size=int(rng.integers(10, 20))))
        add("shapes", _shapes(rng))
        add("colour-field", colour_field(rng, scale=float(rng.uniform(6, 20))))
        add("colour-texture", _colour_texture(rng))
        add("smooth-noise-grey", _grey3(_film(_blur(rng.random((SIZE, SIZE)).astype(np.float32), 6) * 3 - 1, rng)))
        add("chest-phantom", chest_phantom(rng))
        add("hand-phantom", hand_phantom(rng))
    return out


def default_real_roots() -> list[Path]:
    """Folders on a Debian machine with Python (and Rust docs) that hold real non-knee pictures."""
    import site
    import sysconfig

    roots = [Path(p) for p in site.getsitepackages()] + [Path(sysconfig.get_paths()["stdlib"]) / "idlelib"]
    roots += [Path("/usr/share/doc"), Path("/usr/share/icons/Adwaita/512x512"), Path.home() / ".rustup" / "toolchains"]
    return [r for r in roots if r.exists()]


def real_samples(roots: list[Path] | None = None, min_side: int = 96, limit: int = 200,
                 per_root: int = 40) -> list[OODSample]:
    """Real pictures under ``roots`` (sorted, duplicates by content dropped), RGBA on white.

    At most ``per_root`` from each root, so one folder of icons does not swamp the set.
    """
    seen: set[str] = set()
    out: list[OODSample] = []
    for root in roots if roots is not None else default_real_roots():
        taken = 0
        for p in sorted(q for q in root.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()):
            if taken >= per_root or len(out) >= limit:
                break
            sample = _read_real(p, min_side, seen)
            if sample is not None:
                out.append(sample)
                taken += 1
    return out


def _read_real(p: Path, min_side: int, seen: set[str]) -> OODSample | None:
    from PIL import Image

    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if digest in seen:
        return None
    try:
        with Image.open(p) as im:
            if min(im.size) < min_side:
                return None
            im.seek(0)
            rgba = im.convert("RGBA")
    except (OSError, ValueError):
        return None
    seen.add(digest)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), np.float32) / 255.0
    return OODSample(str(p), "real", rgb)


def prosthesis_phantom(knee: np.ndarray, joint_row: int | None = None) -> np.ndarray:
    """A knee crop with a total knee replacement painted in.

    The femoral component caps both condyles (a bright band with the intercondylar notch left
    open), the tibial tray sits just below the joint line with a central stem, and the
    polyethylene insert between them stays radiolucent. Metal is saturated white.

    knee : ndarray, shape = (224, 224), float in [0, 1].
    joint_row : the joint line's row; found from the image when None.
    """
    x = np.array(knee, np.float32, copy=True)
    h, w = x.shape
    j = find_joint_row(x) if joint_row is None else joint_row
    yy, xx = np.mgrid[0:h, 0:w]
    femoral = (yy >= j - int(0.2 * h)) & (yy <= j - int(0.03 * h)) & (xx >= int(0.14 * w)) & (xx <= int(0.86 * w))
    box = (yy >= j - int(0.1 * h)) & (np.abs(xx - w / 2) < 0.09 * w)
    tray = (yy >= j + int(0.03 * h)) & (yy <= j + int(0.08 * h)) & (xx >= int(0.14 * w)) & (xx <= int(0.86 * w))
    stem = (yy > j + int(0.08 * h)) & (yy <= j + int(0.3 * h)) & (np.abs(xx - w / 2) < 0.05 * w)
    metal = (femoral & ~box) | tray | stem
    x[metal] = 1.0
    return x
