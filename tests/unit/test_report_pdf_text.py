"""The PDF's text layer reads back the same with pypdf and with pdftotext, in both languages.

Noto Sans CJK has CFF outlines; embedded as fpdf2 does for those, pypdf gave a NUL before every
Chinese character. The report now embeds the characters it uses as a TrueType subset.
"""
from __future__ import annotations

import io
import re
import subprocess

import pypdf
import pytest

from kneeai.i18n import t
from kneeai.report.fonts import find_fonts, is_cff
from kneeai.report.pdf import render_pdf
from tests.unit.test_report_exports import _summary

REASONS = {"en": "definite narrowing, osteophytes", "zh": "关节间隙明显变窄，骨赘形成（龘）"}


def _with_pypdf(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def _with_pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode("utf-8")


def _squash(text: str) -> str:
    """Layout differs between readers (spaces, line breaks); the characters must not."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module", params=["en", "zh"])
def document(request):
    lang = request.param
    summary = _summary(lang, override=(3, REASONS[lang]))
    return lang, summary, render_pdf(summary)


@pytest.mark.parametrize("reader", [_with_pypdf, _with_pdftotext], ids=["pypdf", "pdftotext"])
def test_text_layer_extracts_correctly(document, reader):
    lang, summary, data = document
    text = reader(data)
    assert "\x00" not in text and "\ufffd" not in text
    squashed = _squash(text)
    for expected in (t("report.title", lang), t("app.intended_use", lang), summary.pseudonym, REASONS[lang],
                     "Kellgren-Lawrence"):
        assert _squash(expected) in squashed, (reader.__name__, expected)


def test_both_readers_agree_on_every_character(document):
    _lang, _summary_, data = document
    a, b = _squash(_with_pypdf(data)), _squash(_with_pdftotext(data))
    assert sorted(a) == sorted(b)  # same characters; the reading order of table cells may differ


def test_chinese_text_is_embedded_as_truetype_not_cff():
    assert is_cff(find_fonts("zh").regular)  # Noto Sans CJK, as installed by the set-up
    data = render_pdf(_summary("zh"), compress=False)
    assert b"/CIDFontType2" in data and b"/CIDFontType0" not in data
    assert b"/Encoding /Identity-H" in data
