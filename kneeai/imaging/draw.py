"""Draw crop boxes on a film for the user to check (pure: pixels in, RGB out)."""
from __future__ import annotations

import numpy as np

from kneeai.schemas import CropBox

__all__ = ["film_with_boxes", "BOX_COLOURS"]

BOX_COLOURS = ((37, 99, 168), (224, 123, 57), (76, 154, 106))


def film_with_boxes(pixels: np.ndarray, boxes: list[CropBox], labels: list[str] | None = None, max_side: int = 900) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    h, w = pixels.shape
    scale = min(1.0, max_side / max(h, w))
    img = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    if scale < 1:
        img = img.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    width = max(2, int(4 * max(h, w) * scale / 900))
    # Pillow's own font has Latin glyphs only: labels are short marks like "#1" (the page says the rest).
    font = ImageFont.load_default(size=max(12, 5 * width))
    for i, b in enumerate(boxes):
        colour = BOX_COLOURS[i % len(BOX_COLOURS)]
        xy = [b.left * scale, b.top * scale, (b.left + b.width) * scale, (b.top + b.height) * scale]
        draw.rectangle(xy, outline=colour, width=width)
        if labels:
            draw.text((xy[0] + 2 * width, xy[1] + 2 * width), labels[i], fill=colour, font=font)
    return np.asarray(img)
