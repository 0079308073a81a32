"""A 100-person icon array as SVG: "N out of 100 people like you".

Icon arrays are how risks are best shown to patients (frequencies, not percentages alone;
Galesic, Garcia-Retamero and Gigerenzer 2009). Filled people are those expected to have the
outcome; they fill from the top-left, row by row, so the count can be read off the rows.
"""
from __future__ import annotations

import html

from kneeai.palette import UNAFFECTED, WARN

__all__ = ["icon_array_svg", "people_out_of_100"]

_CELL_W, _CELL_H = 22, 30


def people_out_of_100(probability: float) -> int:
    """Rounded to whole people, but never 0 for a risk above 0.5% nor 100 below 99.5%."""
    n = int(round(100 * probability))
    if probability > 0.005:
        n = max(n, 1)
    if probability < 0.995:
        n = min(n, 99)
    return max(0, min(100, n))


def _person(x: float, y: float, colour: str) -> str:
    return (f'<circle cx="{x + 11:.1f}" cy="{y + 6:.1f}" r="4.6" fill="{colour}"/>'
            f'<path d="M{x + 4:.1f},{y + 27:.1f} v-9 a7,7 0 0 1 14,0 v9 z" fill="{colour}"/>')


def icon_array_svg(probability: float, affected: str = WARN, unaffected: str = UNAFFECTED, title: str = "") -> str:
    """An inline SVG (10 x 10 people); ``title`` becomes its accessible name."""
    n = people_out_of_100(probability)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {10 * _CELL_W} {10 * _CELL_H}" role="img" '
             f'style="max-width:440px;width:100%">']
    if title:
        parts.append(f"<title>{html.escape(title, quote=False)}</title>")
    for i in range(100):
        row, col = divmod(i, 10)
        parts.append(_person(col * _CELL_W, row * _CELL_H, affected if i < n else unaffected))
    parts.append("</svg>")
    return "".join(parts)
