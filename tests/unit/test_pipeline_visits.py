"""The graded knees of one image saved as visits, and one knee's summary, as the app's pages get
them from the pipeline: the TKR risk, override and clinical values belong to the knee in focus."""
from __future__ import annotations

from datetime import date

import numpy as np

from kneeai.pipeline import knee_summary, save_visits
from kneeai.schemas import Explanation, KneeCrop
from kneeai.store import registry
from tests.unit.fake_results import fake_grade, fake_risk


def _crop(side: str, sha: str | None) -> KneeCrop:
    pixels = np.random.default_rng(ord(side)).random((224, 224)).astype(np.float32)
    return KneeCrop(pixels=pixels, laterality=side, box=None, source_sha256=sha, mm_per_pixel=0.2)


def test_the_focused_knee_is_saved_first_with_the_risk_override_and_clinical_values():
    patient = registry.create_patient()
    heat = np.zeros((224, 224), np.float32)
    knees = [(_crop("R", None), fake_grade(1), None),
             (_crop("L", None), fake_grade(3), Explanation(heat, "gradcam", 3, ()))]
    ids = save_visits(patient.id, date(2026, 5, 1), knees, focus=1, risk=fake_risk(4), override=(4, "bone on bone"),
                      clinical={"age": 63, "sex": "F"}, input_sha256="ab" * 32, user="dr.lee")
    first, second = (registry.get_visit(i) for i in ids)
    assert (first.laterality, first.grade.kl_grade, first.effective_grade) == ("L", 3, 4)
    assert first.risk is not None and first.clinical == {"age": 63, "sex": "F"} and first.heatmap_png is not None
    assert (second.laterality, second.grade.kl_grade, second.effective_grade) == ("R", 1, 1)
    assert second.risk is None and second.override is None and second.clinical is None and second.heatmap_png is None
    # A crop that does not know its file is saved under the image's hash.
    assert first.image_sha256 == second.image_sha256 == "ab" * 32
    assert first.mm_per_pixel == 0.2


def test_a_knee_summary_carries_the_crop_side_and_drops_identifiers_unless_asked():
    crop = _crop("R", "cd" * 32)
    plain = knee_summary(crop, fake_grade(2), pseudonym="KN-000001", identifiers={"PatientName": "Zhang^San"})
    assert plain.laterality == "R" and plain.identifiers == {} and plain.crop_pixels is crop.pixels
    named = knee_summary(crop, fake_grade(2), pseudonym="KN-000001", override=(3, "osteophytes"),
                         identifiers={"PatientName": "Zhang^San"}, include_identifiers=True)
    assert named.identifiers == {"PatientName": "Zhang^San"} and named.override_grade == 3
