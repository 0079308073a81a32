"""What can go wrong talking to a PACS, as our own error types (each carries an i18n key, so the
page and the CLI say it in the user's language)."""
from __future__ import annotations

from kneeai.errors import KneeAIError

__all__ = ["PacsError", "PacsNotConfigured", "PacsUnreachable", "PacsRefused", "NoKneeFilm", "NotAnImage",
           "StowRejected"]


class PacsError(KneeAIError):
    key = "pacs.error.generic"


class PacsNotConfigured(PacsError):
    """No ``KNEEAI_PACS_URL`` (and no URL given)."""

    key = "pacs.error.not_configured"


class PacsUnreachable(PacsError):
    """No answer: the address is wrong, the server is down, or the network refuses (``url``, ``detail``)."""

    key = "pacs.error.unreachable"


class PacsRefused(PacsError):
    """The PACS answered with an HTTP error (``status``; 401/403 mean the credentials)."""

    key = "pacs.error.refused"


class NoKneeFilm(PacsError):
    """The study holds no radiograph that could be a knee film (``study``)."""

    key = "pacs.error.no_knee_film"


class NotAnImage(PacsError):
    """The object asked for is not an image (a report, a PDF, a presentation state: ``sop_class``)."""

    key = "pacs.error.not_an_image"


class StowRejected(PacsError):
    """The PACS did not store what KneeAI sent (``status``, ``detail``)."""

    key = "pacs.error.stow_rejected"
