"""Our own exception types. Each carries an i18n message key and its parameters, so the UI and
the CLI can say what went wrong in the user's language instead of showing a traceback."""
from __future__ import annotations

from typing import Any

__all__ = [
    "KneeAIError",
    "UnreadableImage",
    "UnsupportedCodec",
    "NoPixelData",
    "ImageTooLarge",
    "UnsupportedPhotometric",
    "NotAKnee",
    "InvalidClinicalInput",
    "WeightsMismatch",
    "WeightsMissing",
    "InvalidSurvivalData",
    "RecordNotFound",
    "SchemaTooNew",
    "FontMissing",
    "InvalidOverride",
    "AuditKeyError",
    "RestoreRefused",
    "BurnedInAnnotation",
]


class KneeAIError(Exception):
    """Base error. ``key`` names a message in the i18n catalogs; ``params`` fill its fields."""

    key = "error.generic"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        from kneeai.i18n import t

        return t(self.key, lang, **self.params)


class UnreadableImage(KneeAIError):
    key = "error.unreadable"


class UnsupportedCodec(KneeAIError):
    key = "error.unsupported_codec"


class NoPixelData(KneeAIError):
    key = "error.no_pixel_data"


class ImageTooLarge(KneeAIError):
    key = "error.too_large"


class UnsupportedPhotometric(KneeAIError):
    key = "error.unsupported_photometric"


class NotAKnee(KneeAIError):
    """The gate refused the image. ``detail_key`` (a "gate.reason.*" key) is translated into
    the message's language, so a Chinese message does not carry an English reason."""

    key = "error.not_a_knee"

    def message(self, lang: str = "en") -> str:
        from kneeai.i18n import t

        params = dict(self.params)
        if params.get("detail_key"):
            params["detail"] = t(params["detail_key"], lang)
        return t(self.key, lang, **params)


class InvalidClinicalInput(KneeAIError):
    """A clinical input is missing or out of range. ``field`` is the input's name (age, bmi,
    womac_pain, sex, kl_grade); where the catalogs have ``clinical.field.<name>`` and
    ``clinical.unit.<name>`` it is shown under its translated name and unit."""

    key = "error.invalid_clinical"

    def message(self, lang: str = "en") -> str:
        from kneeai.i18n import catalog, t

        params = dict(self.params)
        name = params.get("field")
        if f"clinical.field.{name}" in catalog("en"):
            params["field"] = t(f"clinical.field.{name}", lang)
            if "unit" in params and f"clinical.unit.{name}" in catalog("en"):
                params["unit"] = t(f"clinical.unit.{name}", lang)
        return t(self.key, lang, **params)


class WeightsMismatch(KneeAIError):
    key = "error.weights_mismatch"


class WeightsMissing(KneeAIError):
    key = "error.weights_missing"


class InvalidSurvivalData(KneeAIError):
    key = "error.invalid_survival_data"


class RecordNotFound(KneeAIError):
    key = "error.record_not_found"


class SchemaTooNew(KneeAIError):
    key = "error.schema_too_new"


class FontMissing(KneeAIError):
    key = "error.font_missing"


class InvalidOverride(KneeAIError):
    key = "error.invalid_override"


class AuditKeyError(KneeAIError):
    """The audit trail's HMAC key is missing, too short, or readable by others."""

    key = "audit.error.no_key"


class RestoreRefused(KneeAIError):
    """A backup whose own audit chain does not verify is not restored. ``problem`` is a
    :class:`kneeai.store.audit.ChainReport` problem, shown in words."""

    key = "error.restore_chain_bad"

    def message(self, lang: str = "en") -> str:
        from kneeai.i18n import t

        params = dict(self.params)
        if params.get("problem"):
            params["problem"] = t(f"cli.db.problem.{params['problem']}", lang)
        return t(self.key, lang, **params)


class BurnedInAnnotation(KneeAIError):
    """The film says identifying text is burned into its pixels; an image export needs the user's confirmation."""

    key = "error.burned_in_annotation"
