"""Draw the app's plotly figures for the PDF, so the page and the printout show the same chart.

The pages hand a figure to the browser's plotly.js; the PDF cannot run it. This module draws the
same figure object (its traces, colours, ranges and titles) with matplotlib as a vector SVG whose
text is turned into outlines in the report's own font, so Chinese prints without a font in the
reader. It covers the trace kinds the report's figures use: lines, filled bands, markers and
horizontal bars.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from kneeai.palette import FALLBACK, GRID

__all__ = ["figure_svg", "parse_colour"]

_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-."}
_RGBA = re.compile(r"rgba?\(([^)]*)\)")


def parse_colour(colour: str | None, default: str = FALLBACK) -> tuple[float, float, float, float]:
    """A plotly colour ("#rgb", "#rrggbb", "#rrggbbaa", "rgb(...)", "rgba(...)") as an RGBA tuple in 0-1."""
    c = (colour or default).strip()
    m = _RGBA.fullmatch(c)
    if m:
        parts = [float(v) for v in m.group(1).split(",")]
        r, g, b = (v / 255 for v in parts[:3])
        return r, g, b, parts[3] if len(parts) > 3 else 1.0
    h = c.lstrip("#")
    if len(h) == 3:
        h = "".join(ch * 2 for ch in h)
    if not re.fullmatch(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", h):
        return parse_colour(default)
    vals = [int(h[i:i + 2], 16) / 255 for i in range(0, len(h), 2)]
    return vals[0], vals[1], vals[2], vals[3] if len(vals) > 3 else 1.0


def _text(obj) -> str:
    return (getattr(obj, "text", None) or "") if obj is not None else ""


def figure_svg(fig, width_mm: float, height_mm: float, font_path: Path | None = None) -> bytes:
    """``fig`` (a plotly Figure of Scatter and Bar traces) as SVG bytes, ``width_mm`` × ``height_mm``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    prop = font_manager.FontProperties(fname=str(font_path)) if font_path else font_manager.FontProperties(family="DejaVu Sans")
    size = 7.0
    mfig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4))
    ax = mfig.add_subplot(1, 1, 1)
    layout = fig.layout
    bars = [tr for tr in fig.data if tr.type == "bar"]
    legend = []
    for tr in fig.data:
        if tr.type == "scatter":
            x, y = list(tr.x or ()), list(tr.y or ())
            if tr.fill == "toself":
                ax.fill(x, y, color=parse_colour(tr.fillcolor), linewidth=0)
                continue
            mode = tr.mode or "lines"
            line = tr.line
            style = _DASHES.get(line.dash or "solid", "-") if "lines" in mode else "none"
            marker = "o" if "markers" in mode else None
            (handle,) = ax.plot(x, y, linestyle=style, marker=marker, markersize=3, color=parse_colour(line.color),
                                linewidth=(line.width or 2) * 0.5)
            if tr.showlegend is not False and tr.name:
                legend.append((handle, tr.name))
        elif tr.type == "bar" and tr.orientation == "h":
            labels, values = list(tr.y), [float(v) for v in tr.x]
            colours = tr.marker.color
            colours = list(colours) if isinstance(colours, (list, tuple)) else [colours] * len(values)
            pos = list(range(len(values)))
            ax.barh(pos, values, color=[parse_colour(c) for c in colours], height=0.7)
            ax.set_yticks(pos, labels, fontproperties=prop, fontsize=size)
            for p, v, label in zip(pos, values, list(tr.text or ())):
                ax.text(v + 1.5, p, label, va="center", fontproperties=prop, fontsize=size)
    xa, ya = layout.xaxis, layout.yaxis
    if xa.range:
        ax.set_xlim(*xa.range)
    if ya.range:
        ax.set_ylim(*ya.range)
    if ya.autorange == "reversed":
        ax.invert_yaxis()
    ax.set_xlabel(_text(xa.title), fontproperties=prop, fontsize=size)
    ax.set_ylabel(_text(ya.title), fontproperties=prop, fontsize=size)
    if ya.ticksuffix:
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:g}{ya.ticksuffix}")
    for label in ax.get_xticklabels() + ([] if bars else ax.get_yticklabels()):
        label.set_fontproperties(prop)
        label.set_fontsize(size)
    ax.tick_params(labelsize=size, length=2)
    title = _text(layout.title)
    if title:
        ax.set_title(title, fontproperties=prop, fontsize=size + 1, loc="left")
    if not bars:
        ax.grid(True, color=GRID, linewidth=0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend:
        legend_font = prop.copy()
        legend_font.set_size(size)
        ax.legend([h for h, _ in legend], [n for _, n in legend], prop=legend_font, loc="upper center",
                  bbox_to_anchor=(0.5, -0.2), ncol=min(3, len(legend)), frameon=False)
    mfig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    # Text as outlines: the SVG needs no font to display, in any script.
    with matplotlib.rc_context({"svg.fonttype": "path"}):
        mfig.savefig(buf, format="svg", metadata={"Date": None})
    # The <metadata> block (creator, format) is all fpdf2 cannot read: leave it out.
    return re.sub(rb"<metadata>.*?</metadata>", b"", buf.getvalue(), flags=re.S)
