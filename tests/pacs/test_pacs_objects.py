"""The SR and the overlay KneeAI stores, built from a film without a PACS, and the configuration errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kneeai.pacs.client import PacsSettings, dataset_bytes
from kneeai.pacs.errors import PacsNotConfigured
from tests.pacs.films import FILM_SHAPE, make_datasets


@pytest.fixture(scope="module")
def graded_film():
    from kneeai.io import load_radiograph
    from kneeai.pipeline import grade_radiograph

    _, datasets = make_datasets("objects")
    film = datasets[0]
    film.preamble = b"\0" * 128
    rad = load_radiograph(dataset_bytes(film))
    return film, rad, grade_radiograph(rad)


def test_report_round_trip_keeps_every_knee(graded_film):
    from kneeai.pacs.sr import DISCLAIMER, SCHEME, build_kl_report, read_kl_report

    film, _, knees = graded_film
    sr = build_kl_report(film, knees)
    assert sr.StudyInstanceUID == film.StudyInstanceUID and sr.PatientID == film.PatientID
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == SCHEME
    back, disclaimer = read_kl_report(sr)
    assert disclaimer == DISCLAIMER
    assert [(k.identifier, k.laterality, k.kl_grade) for k in back] == [
        (f"Knee {g.knee.index}", g.knee.laterality, g.result.kl_grade) for g in knees]
    for k, g in zip(back, knees):
        assert np.allclose(k.probabilities, g.result.probabilities, atol=1e-9)
        assert k.expected_grade == pytest.approx(g.result.expected_grade)
        assert (k.model_id, k.model_sha256) == (g.result.model.model_id, g.result.model.sha256)
        assert k.source_sop_uid == film.SOPInstanceUID
    # highdicom's own TID 1500 reader (as another tool would read it) finds the same groups.
    import highdicom as hd

    groups = hd.sr.ComprehensiveSR.from_dataset(sr).content.get_planar_roi_measurement_groups()
    read = [str(g.get_qualitative_evaluations()[0].value.value) for g in groups]
    assert read == [f"KL{g.result.kl_grade}" for g in knees]
    assert [len(g.get_measurements()) for g in groups] == [6] * len(knees)


def test_overlay_marks_the_knees_and_references_the_film(graded_film, tmp_path):
    from kneeai.explain import explain
    from kneeai.pacs.capture import build_overlay, overlay_pixels

    film, rad, knees = graded_film
    heat = [explain(g.knee.crop, g.result) for g in knees]
    plain = overlay_pixels(rad, knees, [None] * len(knees), max_side=4096)
    coloured = overlay_pixels(rad, knees, heat, max_side=4096)
    assert plain.shape == coloured.shape == (*FILM_SHAPE, 3)
    inside = knees[0].knee.box
    region = (slice(max(0, inside.top) + 10, inside.top + inside.height - 10),
              slice(max(0, inside.left) + 10, inside.left + inside.width - 10))
    assert np.abs(coloured[region].astype(int) - plain[region].astype(int)).max() > 40  # the heatmap is there
    sc = build_overlay(film, rad, knees, heat)
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == film.SOPInstanceUID
    assert sc.StudyInstanceUID == film.StudyInstanceUID and sc.ImageType == ["DERIVED", "SECONDARY"]
    if shutil.which("dciodvfy") or os.environ.get("KNEEAI_TEST_SH"):
        for name, ds in (("sc.dcm", sc),):
            path = tmp_path / name
            path.write_bytes(dataset_bytes(ds))
            out = subprocess.run(["dciodvfy", str(path)], check=False, capture_output=True, text=True, timeout=60)
            assert [x for x in (out.stdout + out.stderr).splitlines() if x.startswith("Error")] == []


def test_no_pacs_configured_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("KNEEAI_PACS_URL", raising=False)
    with pytest.raises(PacsNotConfigured):
        PacsSettings.from_env()
    done = subprocess.run([sys.executable, "-m", "kneeai", "--lang", "zh", "pacs", "find"], check=False,
                          capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in os.environ.items() if k != "KNEEAI_PACS_URL"})
    assert done.returncode == 1 and "KNEEAI_PACS_URL" in done.stderr and "尚未设置" in done.stderr
