"""The one-page (or two) PDF summary, drawn with fpdf2.

It carries the intended-use statement, the pseudonym and the date, the knee with its heatmap,
the grade probabilities and the grade in words, any clinician override, the TKR curves of both
models (labelled "simulated cohort" when they are the demo models), the clinical inputs and the
model versions. The charts are the app's own plotly figures, drawn as vectors
(:mod:`kneeai.report.figure_image`), so the page and the printout cannot disagree.

Privacy: the document metadata carries only a generic title and the creator "KneeAI"; nothing
about the patient, no file names. Identifiers appear in the body only when the summary carries
them (the user opted in, see :func:`kneeai.report.summary.build_summary`).
"""
from __future__ import annotations

import io
import math
from datetime import date
from typing import Any

import numpy as np
from fpdf import FPDF
from PIL import Image

from kneeai.errors import BurnedInAnnotation
from kneeai.palette import ACCENT, INK, MODEL_COLOURS, MUTED, PANEL, WARN, WARN_PANEL, hex_to_rgb
from kneeai.grading.wording import grade_name, grade_sentence, uncertainty_level
from kneeai.i18n import t
from kneeai.report.fonts import FontPair, find_fonts, is_cff, truetype_fonts
from kneeai.explain.overlay import overlay
from kneeai.explain.regions import describe
from kneeai.report.summary import final_grade
from kneeai.schemas import RISK_HORIZONS_YEARS, PatientSummary

__all__ = ["render_pdf"]

_GREY = hex_to_rgb(MUTED)
_LIGHT = hex_to_rgb(PANEL)
_INK = hex_to_rgb(INK)
_ACCENT = hex_to_rgb(ACCENT)
_WARN = hex_to_rgb(WARN)
_WARN_PANEL = hex_to_rgb(WARN_PANEL)
_PAGE_W, _MARGIN = 210.0, 15.0
_CONTENT_W = _PAGE_W - 2 * _MARGIN


def _model_label(name: str, lang: str) -> str:
    from kneeai.survival.risk import model_label

    return model_label(name, lang)


class _Doc(FPDF):
    def __init__(self, lang: str, pseudonym: str, fonts: FontPair | None = None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.ui_lang = lang
        self.pseudonym = pseudonym
        fonts = fonts or find_fonts(lang)
        self.add_font("body", "", str(fonts.regular.path), collection_font_number=fonts.regular.collection_index)
        self.add_font("body", "B", str(fonts.bold.path), collection_font_number=fonts.bold.collection_index)
        # The charts' text is drawn as outlines of the same face.
        self.chart_font = fonts.regular.path
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(True, margin=18)
        # Metadata says what the file is, never whom it is about.
        self.set_title(t("report.pdf_title", lang))
        self.set_creator("KneeAI")
        self.set_producer("KneeAI")
        self.set_lang("zh-CN" if lang == "zh" else "en")

    def tr(self, key: str, **params: Any) -> str:
        return t(key, self.ui_lang, **params)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("body", "", 7)
        self.set_text_color(*_GREY)
        self.cell(_CONTENT_W / 2, 5, f"KneeAI · {self.pseudonym}")
        self.cell(_CONTENT_W / 2, 5, self.tr("report.page", n=self.page_no(), total="{nb}"), align="R")

    # --- building blocks -------------------------------------------------------------------
    def heading(self, text: str) -> None:
        if self.get_y() > 297 - 45:
            self.add_page()
        self.ln(3)
        self.set_font("body", "B", 11.5)
        self.set_text_color(*_ACCENT)
        self.cell(_CONTENT_W, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*_ACCENT)
        self.set_line_width(0.3)
        self.line(_MARGIN, self.get_y(), _MARGIN + _CONTENT_W, self.get_y())
        self.ln(2)
        self.set_text_color(*_INK)

    def para(self, text: str, size: float = 9, w: float = _CONTENT_W, x: float | None = None, bold: bool = False,
             colour: tuple[int, int, int] = _INK, h: float | None = None) -> None:
        self.set_font("body", "B" if bold else "", size)
        self.set_text_color(*colour)
        if x is not None:
            self.set_x(x)
        self.multi_cell(w, h or size * 0.48, text, align="L", new_x="LEFT" if x is not None else "LMARGIN", new_y="NEXT")
        self.set_text_color(*_INK)

    def table(self, rows: list[tuple[str, str]], x: float, w_key: float, w_val: float, size: float = 8.5) -> None:
        for i, (k, v) in enumerate(rows):
            self.set_x(x)
            self.set_fill_color(*(_LIGHT if i % 2 == 0 else (255, 255, 255)))
            self.set_font("body", "", size)
            self.set_text_color(*_GREY)
            self.cell(w_key, 5.6, k, fill=True)
            self.set_text_color(*_INK)
            # Long values (model ids) shrink to fit their cell rather than run off the page.
            fit = size
            while fit > 5.5 and self.get_string_width(v) > w_val - 2:
                fit -= 0.5
                self.set_font("body", "", fit)
            self.cell(w_val, 5.6, v, fill=True, new_x="LMARGIN", new_y="NEXT")


def _header(pdf: _Doc, s: PatientSummary) -> None:
    pdf.set_font("body", "B", 17)
    pdf.set_text_color(*_INK)
    pdf.cell(_CONTENT_W - 30, 9, pdf.tr("report.title"))
    pdf.set_font("body", "B", 12)
    pdf.set_text_color(*_ACCENT)
    pdf.cell(30, 9, "KneeAI", align="R", new_x="LMARGIN", new_y="NEXT")
    lat = {"L": "grade.lat_left", "R": "grade.lat_right"}.get(s.laterality or "", "grade.lat_unknown")
    facts = [(pdf.tr("report.pseudonym"), s.pseudonym), (pdf.tr("report.visit_date"), s.visit_date),
             (pdf.tr("report.knee"), pdf.tr(lat)), (pdf.tr("report.generated"), date.today().isoformat())]
    pdf.ln(1)
    w = _CONTENT_W / len(facts)
    for label, _ in facts:
        pdf.set_font("body", "", 7.5)
        pdf.set_text_color(*_GREY)
        pdf.cell(w, 4, label)
    pdf.ln(4)
    for _, value in facts:
        pdf.set_font("body", "B", 10.5)
        pdf.set_text_color(*_INK)
        pdf.cell(w, 6, value)
    pdf.ln(8)
    # The intended-use statement, boxed so it cannot be missed.
    pdf.set_fill_color(*_WARN_PANEL)
    pdf.set_draw_color(*_WARN)
    pdf.set_font("body", "", 8)
    pdf.set_text_color(*_INK)
    pdf.multi_cell(_CONTENT_W, 4.2, pdf.tr("app.intended_use"), align="L",
                   border=1, fill=True, padding=2, new_x="LMARGIN", new_y="NEXT")
    if s.grade is not None and s.grade.model.placeholder:
        pdf.ln(1)
        pdf.para(pdf.tr("warn.placeholder_model"), 8.5, bold=True, colour=_WARN)


def _chart(pdf: _Doc, fig, x: float, y: float, w: float, h: float) -> float:
    """Draw one of the app's plotly figures at (x, y), ``w`` × ``h`` mm; returns the y below it."""
    from kneeai.report.figure_image import figure_svg

    # fpdf2 draws the SVG's glyph outlines with the page's current fill colour: make it the ink's.
    pdf.set_fill_color(*_INK)
    pdf.image(io.BytesIO(figure_svg(fig, w, h, pdf.chart_font)), x=x, y=y, w=w, h=h)
    return y + h


def _bar_chart(pdf: _Doc, s: PatientSummary, x: float, y: float, w: float) -> float:
    """KL probabilities: the Grade page's figure; returns the y below the chart."""
    from kneeai.grading.charts import probability_figure

    assert s.grade is not None
    return _chart(pdf, probability_figure(s.grade, pdf.ui_lang), x, y, w, 40.0)


def _grade_section(pdf: _Doc, s: PatientSummary) -> None:
    pdf.heading(pdf.tr("report.grade_heading"))
    top = pdf.get_y()
    img_w = 60.0
    if s.crop_pixels is not None:
        heat = s.explanation.heatmap if s.explanation is not None else None
        if heat is None or heat.shape != np.shape(s.crop_pixels):
            heat = None
        rgb = overlay(s.crop_pixels, heat if heat is not None else np.zeros(np.shape(s.crop_pixels), np.float32), 0.6)
        pdf.image(Image.fromarray(rgb), x=_MARGIN, y=top, w=img_w, h=img_w * rgb.shape[0] / rgb.shape[1])
        pdf.set_xy(_MARGIN, top + img_w * rgb.shape[0] / rgb.shape[1] + 1)
        pdf.para(pdf.tr("report.image_heatmap" if heat is not None else "report.image_plain"), 7, w=img_w, x=_MARGIN, colour=_GREY)
    below_image = pdf.get_y()
    x = _MARGIN + img_w + 7 if s.crop_pixels is not None else _MARGIN
    w = _PAGE_W - _MARGIN - x
    pdf.set_xy(x, top)
    if s.grade is None:
        pdf.para(pdf.tr("report.no_grade"), 10, w=w, x=x)
        pdf.set_y(max(pdf.get_y(), below_image))
        return
    g = final_grade(s)
    pdf.para(pdf.tr("report.grade_in_force", grade=g, name=grade_name(g, pdf.ui_lang)), 14, w=w, x=x, bold=True, h=7)
    if s.override_grade is not None:
        pdf.para(pdf.tr("report.by_clinician"), 8.5, w=w, x=x, bold=True, colour=_WARN)
    pdf.ln(1)
    pdf.para(pdf.tr(f"kl.{g}.plain"), 9, w=w, x=x)
    pdf.ln(1.5)
    pdf.para(pdf.tr("report.model_said", sentence=grade_sentence(s.grade, pdf.ui_lang)), 8.5, w=w, x=x)
    pdf.para(pdf.tr("report.label_value", label=pdf.tr("grade.uncertainty"), value=pdf.tr("uncertainty." + uncertainty_level(s.grade))), 8.5, w=w, x=x, colour=_GREY)
    if s.grade.outside_validated_use:
        pdf.para(pdf.tr("grade.outside_validated_use"), 8, w=w, x=x, colour=_WARN, bold=True)
    if s.inverted:
        pdf.para(pdf.tr("report.inverted"), 8, w=w, x=x, colour=_WARN)
    end = _bar_chart(pdf, s, x, pdf.get_y() + 2, w)
    pdf.set_y(max(end, below_image) + 1)
    if s.explanation is not None and s.explanation.regions:
        # The heatmap in words, as on the Explain page: colours alone do not survive a grey printer.
        pdf.para(pdf.tr("report.label_value", label=pdf.tr("explain.in_words"), value=describe(s.explanation, pdf.ui_lang)),
                 8.5, w=_CONTENT_W, x=_MARGIN)
    if s.override_grade is not None:
        pdf.ln(1)
        pdf.set_draw_color(*_WARN)
        pdf.set_fill_color(*_WARN_PANEL)
        pdf.set_font("body", "", 9)
        text = pdf.tr("report.override_text", grade=s.override_grade, name=grade_name(s.override_grade, pdf.ui_lang),
                      reason=s.override_reason or "", model_grade=s.grade.kl_grade)
        pdf.set_font("body", "B", 9)
        pdf.multi_cell(_CONTENT_W, 5, pdf.tr("report.override_heading"), align="L", border="LTR", fill=True, padding=(1.5, 2, 0, 2),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("body", "", 9)
        pdf.multi_cell(_CONTENT_W, 4.6, text, align="L", border="LBR", fill=True, padding=(0, 2, 1.5, 2), new_x="LMARGIN", new_y="NEXT")


def _curve_chart(pdf: _Doc, risk, x: float, y: float, w: float, h: float) -> None:
    """TKR-free survival S(t) of each model with its 95% band: the TKR risk page's figure."""
    from kneeai.survival.charts import survival_figure

    _chart(pdf, survival_figure(risk, pdf.ui_lang), x, y, w, h)


def _risk_section(pdf: _Doc, s: PatientSummary) -> None:
    pdf.heading(pdf.tr("report.risk_heading"))
    risk = s.risk
    if risk is None or not risk.models:
        pdf.para(pdf.tr("report.no_risk"), 9)
        return
    if pdf.get_y() > 297 - 18 - 75:
        pdf.add_page()
    top = pdf.get_y()
    chart_w, chart_h = 100.0, 66.0
    _curve_chart(pdf, risk, _MARGIN, top, chart_w, chart_h)
    # Legend and the table of risks at each horizon, right of the chart.
    x = _MARGIN + chart_w + 5
    w = _PAGE_W - _MARGIN - x
    pdf.set_xy(x, top)
    for i, m in enumerate(risk.models):
        pdf.set_fill_color(*hex_to_rgb(MODEL_COLOURS[i % len(MODEL_COLOURS)]))
        pdf.rect(x, pdf.get_y() + 1.6, 5, 1.6, style="F")
        pdf.set_x(x + 7)
        label = _model_label(m.model_name, pdf.ui_lang) + (" · " + pdf.tr("report.simulated_tag") if m.simulated else "")
        pdf.para(label, 8.5, w=w - 7, x=x + 7, bold=True)
    pdf.ln(2)
    col_w = (w - 18) / max(1, len(risk.models))
    pdf.set_x(x)
    pdf.set_font("body", "", 7.5)
    pdf.set_text_color(*_GREY)
    pdf.cell(18, 5, pdf.tr("report.horizon_col"))
    for i, m in enumerate(risk.models):
        pdf.set_text_color(*hex_to_rgb(MODEL_COLOURS[i % len(MODEL_COLOURS)]))
        pdf.cell(col_w, 5, _model_label(m.model_name, pdf.ui_lang)[:14], align="R")
    pdf.ln(5)
    for j, hz in enumerate(RISK_HORIZONS_YEARS):
        pdf.set_x(x)
        pdf.set_fill_color(*(_LIGHT if j % 2 == 0 else (255, 255, 255)))
        pdf.set_font("body", "", 8.5)
        pdf.set_text_color(*_INK)
        pdf.cell(18, 6, pdf.tr("report.horizon", years=f"{hz:g}"), fill=True)
        for m in risk.models:
            point, low, high = m.risk_at.get(hz, (float("nan"),) * 3)
            pdf.set_font("body", "B", 9)
            text = "—" if not math.isfinite(point) else f"{100 * point:.0f}%"
            pdf.cell(col_w * 0.42, 6, text, align="R", fill=True)
            pdf.set_font("body", "", 7)
            band = "" if not math.isfinite(low) else f"({100 * low:.0f}–{100 * high:.0f})"
            pdf.cell(col_w * 0.58, 6, band, align="R", fill=True)
        pdf.ln(6)
    pdf.set_x(x)
    pdf.para(pdf.tr("report.risk_caption"), 7, w=w, x=x, colour=_GREY)
    pdf.set_y(max(pdf.get_y(), top + chart_h) + 1)
    if risk.simulated:
        pdf.para(pdf.tr("report.simulated_notice"), 8.5, bold=True, colour=_WARN)
    if s.override_grade is not None and risk.inputs.kl_grade == s.override_grade:
        pdf.para(pdf.tr("report.risk_uses_override", grade=s.override_grade), 8.5, colour=_WARN)


def _clinical_and_models(pdf: _Doc, s: PatientSummary) -> None:
    # Two columns side by side cannot break across a page: start a new one when they would not fit.
    n_rows = max(5, 2 + 2 * (len(s.risk.models) if s.risk is not None else 0) + 1)
    needed = 14 + 6 + n_rows * 5.6 + (12 + 5.6 * len(s.identifiers) if s.identifiers else 0)
    if pdf.get_y() + needed > 297 - 18:
        pdf.add_page()
    pdf.heading(pdf.tr("report.details_heading"))
    top = pdf.get_y()
    half = _CONTENT_W / 2 - 3
    rows: list[tuple[str, str]] = []
    if s.risk is not None:
        r = s.risk.inputs
        rows = [(pdf.tr("report.age"), f"{r.age:g}"), (pdf.tr("report.sex"), pdf.tr(f"report.sex_{r.sex}")),
                (pdf.tr("report.bmi"), f"{r.bmi:.1f} kg/m²"), (pdf.tr("report.womac_pain"), f"{r.womac_pain:g} / 20"),
                (pdf.tr("report.kl_input"), pdf.tr("report.kl_input_override", grade=r.kl_grade) if r.kl_probabilities is None
                 else pdf.tr("report.kl_input_mixed"))]
    pdf.set_xy(_MARGIN, top)
    pdf.para(pdf.tr("report.clinical_heading"), 9, bold=True, w=half, x=_MARGIN)
    if rows:
        pdf.table(rows, _MARGIN, 30, half - 30)
    else:
        pdf.para(pdf.tr("report.no_clinical"), 8.5, w=half, x=_MARGIN, colour=_GREY)
    left_end = pdf.get_y()
    x = _MARGIN + half + 6
    pdf.set_xy(x, top)
    pdf.para(pdf.tr("report.models_heading"), 9, bold=True, w=half, x=x)
    models: list[tuple[str, str]] = []
    if s.grade is not None:
        tag = " · " + pdf.tr("report.placeholder_tag") if s.grade.model.placeholder else ""
        models.append((pdf.tr("report.grader"), f"{s.grade.model.model_id}{tag}"))
        models.append(("  sha256", (s.grade.model.sha256 or "—")[:16]))
    for m in s.risk.models if s.risk is not None else ():
        tag = " · " + pdf.tr("report.simulated_tag") if m.simulated else ""
        models.append((_model_label(m.model_name, pdf.ui_lang), f"{m.model_id}{tag}"))
        models.append(("  sha256", (m.sha256 or "—")[:16]))
    if s.explanation is not None and s.explanation.method != "stored":
        models.append((pdf.tr("report.heatmap_method"), s.explanation.method))
    pdf.table(models, x, 30, half - 30, size=8)
    pdf.set_y(max(left_end, pdf.get_y()) + 1)
    if s.identifiers:
        pdf.heading(pdf.tr("report.identifiers_heading"))
        pdf.table(sorted(s.identifiers.items()), _MARGIN, 45, _CONTENT_W - 45)


def render_pdf(summary: PatientSummary, *, compress: bool = True, burned_in_annotation: bool = False,
               confirm_burned_in: bool = False) -> bytes:
    """The summary as PDF bytes, in ``summary.language``.

    Raises :class:`~kneeai.errors.FontMissing` when Chinese is asked for and no CJK font is installed.
    ``compress=False`` leaves the streams readable (tests look inside).

    ``burned_in_annotation``: the film says identifying text is burned into its pixels
    (:func:`kneeai.io.has_burned_in_annotation`). The PDF carries the knee's image, so it is then
    refused with :class:`~kneeai.errors.BurnedInAnnotation` unless the user confirmed
    (``confirm_burned_in=True``); a summary without an image is not affected.
    """
    if burned_in_annotation and summary.crop_pixels is not None and not confirm_burned_in:
        raise BurnedInAnnotation()
    fonts = find_fonts(summary.language)
    if is_cff(fonts.regular) or is_cff(fonts.bold):
        # A CFF face (Noto Sans CJK): embed TrueType subsets instead, whose text layer every reader
        # extracts. The catalogs' characters are converted once per process; a document with others
        # (a typed reason, a name) is laid out again with those added.
        fonts_tt = truetype_fonts(fonts)
        draft = _layout(summary, fonts_tt)
        missing = frozenset(chr(c) for f in draft.fonts.values() for c in getattr(f, "missing_glyphs", ()))
        if not missing:
            draft.set_compression(compress)
            return bytes(draft.output())
        for font in draft.fonts.values():  # the draft is not written; let go of its font files
            if hasattr(font, "ttfont"):
                font.ttfont.close()
        fonts = truetype_fonts(fonts, missing)
    return _render(summary, fonts, compress)


def _layout(summary: PatientSummary, fonts: FontPair) -> _Doc:
    pdf = _Doc(summary.language, summary.pseudonym, fonts)
    pdf.alias_nb_pages("{nb}")
    pdf.add_page()
    _header(pdf, summary)
    _grade_section(pdf, summary)
    _risk_section(pdf, summary)
    _clinical_and_models(pdf, summary)
    return pdf


def _render(summary: PatientSummary, fonts: FontPair, compress: bool) -> bytes:
    pdf = _layout(summary, fonts)
    pdf.set_compression(compress)
    return bytes(pdf.output())
