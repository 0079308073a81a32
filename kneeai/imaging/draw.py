"""Draw crop boxes on a film for the user to check (pure: pixels in, RGB out)."""
from __future__ import annotations

import numpy as np

from kneeai.schemas import CropBox

__all__ = ["film_with_boxes", "film_box_figure", "box_from_selection", "BOX_COLOURS"]

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


def film_box_figure(pixels: np.ndarray, boxes: list[CropBox], labels: list[str], max_side: int = 900):
    """The film as a plotly figure with the knee boxes drawn on it, in box-select mode.

    The user drags a rectangle on the film to place a box (:func:`box_from_selection`). Axes are
    in the film's own pixels, so the selection comes back in the coordinates the crop uses.
    """
    import plotly.graph_objects as go

    h, w = pixels.shape
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    small = (np.clip(pixels[::step, ::step], 0, 1) * 255).astype(np.uint8)
    fig = go.Figure(go.Image(z=np.repeat(small[..., None], 3, axis=2), x0=0, dx=step, y0=0, dy=step,
                             hoverinfo="skip"))
    # Box selection needs a selectable trace: an invisible grid over the film.
    gy, gx = np.mgrid[0:h:max(1, h // 24), 0:w:max(1, w // 24)]
    fig.add_trace(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", marker={"opacity": 0, "size": 2},
                             hoverinfo="skip", showlegend=False))
    for i, b in enumerate(boxes):
        r, g, bl = BOX_COLOURS[i % len(BOX_COLOURS)]
        colour = f"rgb({r},{g},{bl})"
        fig.add_shape(type="rect", x0=b.left, y0=b.top, x1=b.left + b.width, y1=b.top + b.height,
                      line={"color": colour, "width": 3})
        fig.add_annotation(x=b.left, y=b.top, text=labels[i], showarrow=False, xanchor="left", yanchor="bottom",
                           font={"color": colour, "size": 16})
    fig.update_xaxes(range=[0, w], visible=False, constrain="domain")
    fig.update_yaxes(range=[h, 0], visible=False, scaleanchor="x")
    fig.update_layout(dragmode="select", margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=560,
                      selectdirection="any", newselection_mode="immediate")
    return fig


def box_from_selection(selection: dict | None, shape: tuple[int, int], min_side: int = 32) -> CropBox | None:
    """The square box that a rectangle dragged on :func:`film_box_figure` asks for, or None.

    ``selection`` is the chart's selection state (``{"box": [{"x": [x0, x1], "y": [y0, y1]}]}``);
    the latest rectangle counts. The square is centred on the rectangle, its side the rectangle's
    longer side, clipped to the film.
    """
    rects = (selection or {}).get("box") or []
    if not rects:
        return None
    xs, ys = rects[-1].get("x") or [], rects[-1].get("y") or []
    if len(xs) < 2 or len(ys) < 2:
        return None
    h, w = shape
    x0, x1 = sorted(float(v) for v in xs[:2])
    y0, y1 = sorted(float(v) for v in ys[:2])
    side = int(round(min(max(x1 - x0, y1 - y0, min_side), h, w)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    return CropBox(top, left, side, side)
