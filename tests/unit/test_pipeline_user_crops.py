"""The crops a user placed on the Grade page: graded in one pass, refusals kept apart, every grading audited."""
from __future__ import annotations

import numpy as np
from PIL import Image

from kneeai.errors import KneeAIError, NotAKnee
from kneeai.pipeline import Audit, grade_user_crops
from kneeai.schemas import KneeCrop
from kneeai.store import trail
from tests.conftest import ROOT

KNEE = ROOT / "examples" / "knees" / "kl2_9015402R.webp"


def _crops():
    knee = np.asarray(Image.open(KNEE).convert("L"), np.float32) / 255
    noise = np.random.default_rng(0).random((224, 224)).astype(np.float32)
    return [KneeCrop(pixels=knee, laterality="R", box=None, source_sha256="a" * 64),
            KneeCrop(pixels=noise, laterality="L", box=None, source_sha256="a" * 64)]


def test_a_refused_crop_does_not_stop_the_other_and_each_grading_is_audited():
    done = grade_user_crops(_crops(), None, audit=Audit(subject="patient:1", user="dr.lee"))
    assert set(done.results) == {0} and isinstance(done.errors[1], NotAKnee) and done.audit_error is None
    events = [e for e in trail.audit_events() if e["action"] == "grade"]
    assert len(events) == 1 and events[0]["user"] == "dr.lee" and events[0]["subject"] == "patient:1"
    # Graded anyway on request: both come back, the noise marked outside validated use.
    anyway = grade_user_crops(_crops(), None, allow_outside_use=True)
    assert set(anyway.results) == {0, 1} and anyway.results[1].outside_validated_use


def test_a_trail_that_cannot_be_written_is_reported_and_the_grades_stand(monkeypatch):
    def fail(*_a, **_k):
        raise KneeAIError("error.generic")

    monkeypatch.setattr(trail, "record_gradings", fail)
    done = grade_user_crops(_crops()[:1], None, audit=Audit())
    assert set(done.results) == {0} and done.audit_error is not None and done.audit_error.key == "error.generic"
