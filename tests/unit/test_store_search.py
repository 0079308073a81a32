"""Patient search takes ``%`` and ``_`` literally (they are LIKE wildcards otherwise)."""
from __future__ import annotations

from kneeai.store import registry


def test_wildcards_in_a_query_are_matched_literally():
    a = registry.create_patient({"PatientName": "Wang_Li"})
    b = registry.create_patient({"PatientName": "WangXLi"})
    c = registry.create_patient({"PatientName": "100% Smith"})
    d = registry.create_patient({"PatientName": "100 Smith"})
    e = registry.create_patient({"PatientName": "back\\slash"})

    def found(q: str) -> set[int]:
        return {p.id for p in registry.search_patients(q, include_identifiers=True)}

    assert found("Wang_Li") == {a.id}  # "_" would also match WangXLi
    assert found("_") == {a.id}
    assert found("100%") == {c.id}  # "%" would also match "100 Smith"
    assert found("%") == {c.id}
    assert found("k\\s") == {e.id}
    assert found("Smith") == {c.id, d.id}
    assert found("WangXLi") == {b.id}
    assert registry.search_patients("%") == []  # pseudonyms (KN-XXXXXX) hold no "%"
    assert registry.like_pattern("a%b_c\\") == "%a\\%b\\_c\\\\%"
