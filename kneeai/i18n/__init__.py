"""Every user-visible string, in English and Simplified Chinese.

One catalog per language (``en.json``, ``zh.json``); ``t(key, lang, **params)`` looks a key up
and fills ``{named}`` fields. A key missing from a catalog is a bug that the tests catch; at run
time it falls back to English, then to the key itself, so the UI never crashes on a typo.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["t", "catalog", "join_sentences", "LANGUAGES", "LANGUAGE_NAMES"]

LANGUAGES: tuple[str, ...] = ("en", "zh")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "简体中文"}
# What goes between two full sentences: Chinese runs them on after "。", English spaces them.
SENTENCE_GAP: dict[str, str] = {"en": " ", "zh": ""}
_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        lang = "en"
    return json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def t(key: str, lang: str = "en", **params: Any) -> str:
    text = catalog(lang).get(key) or catalog("en").get(key) or key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def join_sentences(sentences: list[str], lang: str) -> str:
    return SENTENCE_GAP.get(lang, " ").join(s for s in sentences if s)
