"""Find the fonts the PDF needs among those the system installed (never downloaded).

Chinese needs a CJK font: Debian's ``fonts-noto-cjk`` (the project's set-up installs it) or
``fonts-wqy-microhei``. English prefers DejaVu Sans and falls back to the CJK font, whose Latin
glyphs are fine. A missing font is a clear :class:`~kneeai.errors.FontMissing`, never a download.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kneeai.errors import FontMissing

__all__ = ["FontFile", "FontPair", "find_fonts", "FONT_DIRS"]

FONT_DIRS: tuple[Path, ...] = tuple(Path(p) for p in os.environ.get("KNEEAI_FONT_DIRS", "/usr/share/fonts:/usr/local/share/fonts").split(":") if p)


@dataclass(frozen=True)
class FontFile:
    path: Path
    collection_index: int = 0  # face inside a .ttc collection


@dataclass(frozen=True)
class FontPair:
    regular: FontFile
    bold: FontFile


# (file name, index of the Simplified Chinese face in the collection); order is preference.
_CJK_REGULAR = (("NotoSansCJK-Regular.ttc", 2), ("NotoSansCJKsc-Regular.otf", 0), ("wqy-microhei.ttc", 0), ("wqy-zenhei.ttc", 0),
                ("NotoSerifCJK-Regular.ttc", 2))
_CJK_BOLD = (("NotoSansCJK-Bold.ttc", 2), ("NotoSansCJKsc-Bold.otf", 0))
_LATIN_REGULAR = (("DejaVuSans.ttf", 0), ("LiberationSans-Regular.ttf", 0))
_LATIN_BOLD = (("DejaVuSans-Bold.ttf", 0), ("LiberationSans-Bold.ttf", 0))


def _find(candidates: tuple[tuple[str, int], ...]) -> FontFile | None:
    for name, index in candidates:
        for root in FONT_DIRS:
            if not root.is_dir():
                continue
            for hit in sorted(root.rglob(name)):
                return FontFile(hit, index)
    return None


def find_fonts(lang: str) -> FontPair:
    """Regular and bold faces for ``lang``; bold falls back to regular where no bold is installed."""
    cjk = _find(_CJK_REGULAR)
    if lang == "zh":
        if cjk is None:
            raise FontMissing()
        return FontPair(cjk, _find(_CJK_BOLD) or cjk)
    latin = _find(_LATIN_REGULAR)
    if latin is not None:
        return FontPair(latin, _find(_LATIN_BOLD) or latin)
    if cjk is not None:
        return FontPair(cjk, _find(_CJK_BOLD) or cjk)
    raise FontMissing()
