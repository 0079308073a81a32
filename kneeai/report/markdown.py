"""User-typed text (an override's reason, a name) shown inside Streamlit's markdown.

``st.caption``, ``st.info``, ``st.warning`` and ``st.markdown`` read their text as markdown, with
Streamlit's extras: ``:red[...]`` colours, ``:material/...:`` icons, ``$...$`` LaTeX, links and
images. A reason such as ``[see](https://evil.example)`` or ``**URGENT**`` must appear as typed.
:func:`escape_markdown` backslash-escapes every ASCII punctuation character (CommonMark allows
exactly that) and flattens line breaks, so the text renders literally.
"""
from __future__ import annotations

import string

__all__ = ["escape_markdown"]

_PUNCTUATION = frozenset(string.punctuation)


def escape_markdown(text: str | None) -> str:
    """``text`` safe to embed in markdown: shown exactly as typed, on one line."""
    if not text:
        return ""
    flat = " ".join(str(text).splitlines())
    return "".join("\\" + ch if ch in _PUNCTUATION else ch for ch in flat)
