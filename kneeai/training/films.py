"""Whole films for release tools: every knee the film pipeline finds on each film of a folder."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

__all__ = ["iter_film_knees"]

log = logging.getLogger(__name__)


def iter_film_knees(films: Path, kind: str = "auto") -> Iterator[tuple[Path, object, list]]:
    """(path, radiograph, knees) for every readable image under ``films``, the knees as
    :func:`kneeai.pipeline.knees` finds them.

    Files that cannot be read are skipped with a logged warning (a fit over a clinic's export
    should not stop on one broken file).
    """
    from kneeai.errors import KneeAIError
    from kneeai.io import load_radiograph
    from kneeai.pipeline import knees
    from kneeai.training.splits import IMAGE_SUFFIXES

    for path in sorted(p for p in films.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            rad = load_radiograph(path)
            found = knees(rad, kind)
        except KneeAIError as exc:
            log.warning("%s skipped: %s", path, exc.key)
            continue
        yield path, rad, found
