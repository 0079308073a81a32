"""The registry: pseudonyms, identifiers kept apart, atomic visits, overrides, deletion."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from kneeai.errors import InvalidOverride, RecordNotFound
from kneeai.store import audit, registry
from kneeai.store.codec import decode_png, encode_png
from kneeai.store.db import read_session
from kneeai.store.models import AuditEvent
from tests.unit.fake_results import fake_crop, fake_grade, fake_risk


def test_pseudonym_is_random_and_never_from_identity():
    a = registry.create_patient({"PatientName": "Doe^Jane", "PatientID": "MRN-0042"})
    b = registry.create_patient({"PatientName": "Doe^Jane", "PatientID": "MRN-0042"})
    assert re.fullmatch(r"KN-[0-9A-F]{6}", a.pseudonym)
    assert a.pseudonym != b.pseudonym
    assert a.identifiers == {} and registry.get_patient(a.id).identifiers == {}
    assert registry.get_patient(a.id, include_identifiers=True).identifiers == {"PatientName": "Doe^Jane", "PatientID": "MRN-0042"}


def test_search_by_identifier_only_when_asked():
    p = registry.create_patient({"PatientID": "MRN-0042"})
    assert registry.search_patients("0042") == []
    found = registry.search_patients("0042", include_identifiers=True)
    assert [r.id for r in found] == [p.id] and found[0].identifiers["PatientID"] == "MRN-0042"
    assert [r.id for r in registry.search_patients(p.pseudonym[-4:].lower())] == [p.id]


def test_visit_roundtrip_keeps_both_grades_and_the_whole_risk():
    p = registry.create_patient()
    crop = fake_crop()
    risk = fake_risk(2)
    vid = registry.save_visit(p.id, "2024-03-01", "L", "aa" * 32, encode_png(crop), fake_grade(2), risk, (3, "large osteophytes"),
                              {"age": 63, "sex": "F"}, mm_per_pixel=0.3)
    v = registry.get_visit(vid)
    assert v.visit_date == date(2024, 3, 1) and v.laterality == "L" and v.pseudonym == p.pseudonym
    assert v.grade.kl_grade == 2 and v.override.kl_grade == 3 and v.effective_grade == 3
    assert v.risk == risk
    assert v.clinical == {"age": 63, "sex": "F"} and v.mm_per_pixel == 0.3
    assert abs(v.crop_pixels() - crop).max() <= 1 / 255 + 1e-6
    registry.set_override(vid, 4, "second opinion")
    v2 = registry.get_visit(vid)
    assert [o.kl_grade for o in v2.overrides] == [3, 4] and v2.effective_grade == 4 and v2.grade.kl_grade == 2


@pytest.mark.parametrize("override", [(5, "x"), (-1, "x"), (2, "  ")])
def test_bad_override_is_refused(override):
    p = registry.create_patient()
    with pytest.raises(InvalidOverride):
        registry.save_visit(p.id, date(2024, 1, 1), "R", "00" * 32, None, fake_grade(1), None, override)
    assert registry.visits_for(p.id) == []


def test_save_is_all_or_nothing(monkeypatch):
    p = registry.create_patient()
    real = audit.append

    def failing(session, action, *a, **k):
        if action == "risk":
            raise RuntimeError("disk on fire")
        return real(session, action, *a, **k)

    monkeypatch.setattr(audit, "append", failing)
    with pytest.raises(RuntimeError):
        registry.save_visit(p.id, "2024-01-01", "R", "00" * 32, None, fake_grade(1), fake_risk(1))
    assert registry.visits_for(p.id) == []
    with read_session() as s:
        assert audit.head(s)[0] == 1  # only the patient's creation


def test_unknown_records_raise_our_error():
    with pytest.raises(RecordNotFound):
        registry.get_visit(999)
    with pytest.raises(RecordNotFound):
        registry.save_visit(999, "2024-01-01", None, "00" * 32, None, fake_grade(0))


def test_visits_are_ordered_by_date_and_deletion_is_audited():
    p = registry.create_patient()
    later = registry.save_visit(p.id, "2025-01-01", "R", "01" * 32, None, fake_grade(3))
    earlier = registry.save_visit(p.id, "2023-01-01", "R", "02" * 32, None, fake_grade(2))
    assert [v.id for v in registry.visits_for(p.id)] == [earlier, later]
    assert registry.get_patient(p.id).n_visits == 2
    registry.delete_patient(p.id)
    with pytest.raises(RecordNotFound):
        registry.get_visit(later)
    with read_session() as s:
        report = audit.verify_chain(s)
        actions = [e for (e,) in s.execute(select(AuditEvent.action).order_by(AuditEvent.id))]
    assert report.ok and actions == ["patient", "grade", "grade", "deletion"]


def test_png_codec_roundtrip():
    x = fake_crop(3, 64)
    assert decode_png(encode_png(x)).shape == (64, 64)
