"""Find the fonts the PDF needs among those the system installed (never downloaded).

Chinese needs a CJK font: Debian's ``fonts-noto-cjk`` (the project's set-up installs it) or
``fonts-wqy-microhei``. English prefers DejaVu Sans and falls back to the CJK font, whose Latin
glyphs are fine. A missing font is a clear :class:`~kneeai.errors.FontMissing`, never a download.

Noto Sans CJK has CFF (PostScript) outlines. fpdf2 embeds those as a CIDFontType0 with its own
encoding CMap, which pdftotext reads but pypdf (and tools built on it) does not: every character
came out with a NUL before it. :func:`truetype_subset` turns the characters a document uses into a
small TrueType (glyf) font, which fpdf2 embeds the common way (Identity-H, a ToUnicode map), so
the text layer extracts the same in every reader.
"""
from __future__ import annotations

import atexit
import os
import shutil
import string
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kneeai.errors import FontMissing

__all__ = ["FontFile", "FontPair", "find_fonts", "FONT_DIRS", "is_cff", "truetype_subset", "truetype_fonts"]

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


def is_cff(font: FontFile) -> bool:
    """True when the face has CFF/CFF2 (PostScript) outlines rather than TrueType ones."""
    from fontTools.ttLib import TTFont

    with open(font.path, "rb") as fh:
        face = TTFont(fh, fontNumber=font.collection_index, lazy=True)
        return "CFF " in face or "CFF2" in face


def truetype_subset(font: FontFile, text: str, dest: Path) -> FontFile:
    """Write to ``dest`` a TrueType-outline font with just the glyphs ``text`` needs from ``font``.

    Cubic curves become quadratic ones within 1 font unit (fontTools' cu2qu), invisible at print
    sizes; metrics and the character map are kept. A few hundred characters take ~0.5 s, most of
    it reading the large CJK collection.
    """
    from fontTools.ttLib import TTFont

    with open(font.path, "rb") as fh:
        face = TTFont(fh, fontNumber=font.collection_index, lazy=True)
        _subset_to_truetype(face, text, dest)
    return FontFile(dest, 0)


def _subset_to_truetype(face: Any, text: str, dest: Path) -> None:
    from fontTools import subset as ftsubset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, desubroutinize=True, layout_features=[],
                               name_IDs=["*"], glyph_names=False)
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "VORG", "vhea", "vmtx"]
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(face)
    if "CFF " in face or "CFF2" in face:
        _to_glyf(face, Cu2QuPen, TTGlyphPen, newTable)
    face.save(str(dest))


def _to_glyf(face: Any, cu2qu_pen: Any, glyph_pen: Any, new_table: Any) -> None:
    order = face.getGlyphOrder()
    glyph_set = face.getGlyphSet()
    glyf = new_table("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    for name in order:
        pen = glyph_pen(glyph_set)
        glyph_set[name].draw(cu2qu_pen(pen, 1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    face["loca"], face["glyf"] = new_table("loca"), glyf
    for table in ("CFF ", "CFF2"):
        if table in face:
            del face[table]
    face.sfntVersion = "\x00\x01\x00\x00"
    maxp = face["maxp"]
    maxp.tableVersion = 0x00010000
    for field in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs", "maxStackElements",
                  "maxSizeOfInstructions", "maxComponentElements", "maxPoints", "maxContours", "maxCompositePoints",
                  "maxCompositeContours", "maxComponentDepth"):
        setattr(maxp, field, 0)
    maxp.maxZones = 1  # the rest are recomputed from the glyphs on save
    face["head"].glyphDataFormat = 0
    face["post"].formatType = 3.0  # no glyph names needed


_DIR_LOCK = threading.Lock()
_DIRS: list[Path] = []


def _font_dir() -> Path:
    """One private temporary folder per process for converted fonts, removed at exit."""
    with _DIR_LOCK:
        if not _DIRS:
            path = Path(tempfile.mkdtemp(prefix="kneeai-fonts-"))
            atexit.register(shutil.rmtree, path, True)
            _DIRS.append(path)
        return _DIRS[0]


def _catalog_chars() -> str:
    from kneeai.i18n import catalog

    chars = set(string.printable.strip()) | {" "}
    for lang in ("en", "zh"):
        chars.update("".join(catalog(lang).values()))
    return "".join(sorted(chars))


@lru_cache(maxsize=8)
def truetype_fonts(pair: FontPair, extra: frozenset[str] = frozenset()) -> FontPair:
    """``pair`` as TrueType subsets holding every character of the message catalogs, printable
    ASCII and ``extra`` (a document's own, e.g. a typed reason), converted once per process."""
    text = _catalog_chars() + "".join(sorted(extra))
    key = f"{abs(hash((pair, extra))):x}"
    regular = truetype_subset(pair.regular, text, _font_dir() / f"{key}-regular.ttf")
    bold = regular if pair.bold == pair.regular else truetype_subset(pair.bold, text, _font_dir() / f"{key}-bold.ttf")
    return FontPair(regular, bold)
