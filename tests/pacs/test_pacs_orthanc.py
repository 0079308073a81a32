"""KneeAI against a real Orthanc over DICOMweb: find, pull, grade, store back, read back."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kneeai.pacs import (
    NoKneeFilm,
    NotAnImage,
    PacsRefused,
    PacsUnreachable,
    StowRejected,
    StudyQuery,
    find_studies,
    knee_films,
    pull,
)
from kneeai.pacs.client import PacsClient, PacsSettings, dataset_bytes
from kneeai.pacs.query import ref_of
from kneeai.pacs.sr import DISCLAIMER, read_kl_report
from tests.pacs.films import FILM_SHAPE, make_datasets

ROOT = Path(__file__).resolve().parents[2]


def _uids(found) -> set[str]:
    return {s.study_uid for s in found}


def test_find_studies_by_accession_date_modality_and_body_part(orthanc, studies):
    client = orthanc.client()
    by_acc = find_studies(client, StudyQuery(accession=studies.knee_accession))
    assert _uids(by_acc) == {studies.knee_study}
    assert by_acc[0].date == "20260115" and "DX" in by_acc[0].modalities
    # Identity is kept apart and only leaves in a record when asked for.
    assert by_acc[0].identifiers["PatientName"] == "KNEEAI^TEST"
    assert "patient" not in by_acc[0].record() and by_acc[0].record(True)["patient"]["PatientID"] == "KNEEAI-TEST-1"
    assert studies.knee_study in _uids(find_studies(client, StudyQuery(date="20260101-20260131", modality="DX")))
    assert studies.knee_study not in _uids(find_studies(client, StudyQuery(date="20250101-20251231")))
    knee = _uids(find_studies(client, StudyQuery(body_part="KNEE")))
    chest = _uids(find_studies(client, StudyQuery(body_part="CHEST")))
    assert studies.knee_study in knee and studies.chest_study not in knee
    assert studies.chest_study in chest and studies.knee_study not in chest
    assert studies.chest_study not in _uids(find_studies(client, StudyQuery(modality="DX", date="20260115")))


def test_knee_films_of_a_study(orthanc, studies):
    client = orthanc.client()
    films = knee_films(client, studies.knee_study)
    assert [(f.series_uid, f.sop_uid, f.modality, f.body_part) for f in films] == [
        (studies.knee_series, studies.knee_instance, "DX", "KNEE")]
    for study in (studies.chest_study, studies.text_study):
        with pytest.raises(NoKneeFilm) as err:
            knee_films(client, study)
        assert "knee" in err.value.message("en") and "膝" in err.value.message("zh")


def test_pull_reads_the_film_and_refuses_a_non_image(orthanc, studies):
    client = orthanc.client()
    film = pull(client, knee_films(client, studies.knee_study)[0])
    assert film.radiograph.shape == FILM_SHAPE
    assert film.radiograph.meta["BodyPartExamined"] == "KNEE"
    assert film.data[128:132] == b"DICM"
    # The PACS's identity stays in `identifiers`, never in `meta`.
    assert film.radiograph.identifiers["PatientName"] == "KNEEAI^TEST"
    assert "KNEEAI^TEST" not in json.dumps(film.radiograph.meta)
    text = ref_of(client, studies.text_study, studies.text_series, studies.text_instance)
    with pytest.raises(NotAnImage) as err:
        pull(client, text)
    assert "1.2.840.10008.5.1.4.1.1.88.11" in err.value.message("en") and "不是图像" in err.value.message("zh")


def test_a_file_stored_without_its_preamble_is_still_pulled(orthanc):
    """Some archives keep what they were sent; a Part 10 file without its 128-byte preamble comes back so."""
    import base64
    import io
    import urllib.request

    from pydicom import dcmwrite

    _, datasets = make_datasets("bare")
    film = datasets[0]
    buf = io.BytesIO()
    dcmwrite(buf, film)  # pydicom writes no preamble unless asked
    assert buf.getvalue()[128:132] != b"DICM"
    rest = orthanc.url.removesuffix("/dicom-web")  # Orthanc's own REST API, beside DICOMweb
    auth = base64.b64encode(f"{orthanc.user}:{orthanc.password}".encode()).decode()
    req = urllib.request.Request(rest + "/instances", data=buf.getvalue(), method="POST",
                                 headers={"Authorization": "Basic " + auth, "Content-Type": "application/dicom"})
    with urllib.request.urlopen(req, timeout=20) as r:
        assert r.status == 200
    client = orthanc.client()
    pulled = pull(client, knee_films(client, str(film.StudyInstanceUID))[0])
    assert pulled.radiograph.shape == FILM_SHAPE and pulled.data[128:132] == b"DICM"


def test_unreachable_and_refusing_pacs(orthanc, studies):
    from tests.e2e.browser import free_port

    closed = PacsClient(PacsSettings(f"http://127.0.0.1:{free_port()}/dicom-web", "kneeai", "kneeai-test", 5.0))
    with pytest.raises(PacsUnreachable) as err:
        closed.search_studies({})
    assert "does not answer" in err.value.message("en") and "没有响应" in err.value.message("zh")
    with pytest.raises(PacsRefused) as err:
        orthanc.client(password="wrong").search_studies({})
    assert err.value.params["status"] == 401
    assert "401" in err.value.message("zh")


def test_rejected_stow_is_reported(orthanc, studies):
    # Orthanc refuses an object sent to a study it does not belong to (STOW-RS to /studies/{uid}).
    _, datasets = make_datasets("reject")
    with pytest.raises(StowRejected) as err:
        orthanc.client().store([datasets[0]], studies.chest_study)
    assert str(datasets[0].SOPInstanceUID) in err.value.message("en")
    assert "未能保存" in err.value.message("zh")


def _dciodvfy_errors(data: bytes, tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / name
    path.write_bytes(data)
    out = subprocess.run(["dciodvfy", str(path)], check=False, capture_output=True, text=True, timeout=60)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def _kneeai(args: list[str], env: dict[str, str]) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "kneeai", *args], check=False, capture_output=True, text=True,
                          timeout=300,
                          env={**os.environ, **env}, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.slow
def test_end_to_end_find_grade_push_and_read_back(orthanc, studies, pacs_env, expected_knees, tmp_path):
    """The CLI finds the study, grades it, stores SR + overlay; Orthanc gives both back with the grade intact."""
    from kneeai.io import load_radiograph
    from kneeai.pipeline import grade_radiograph, knee_record

    found = _kneeai(["pacs", "find", "--accession", studies.knee_accession, "--date", "20260115", "--json"], pacs_env)
    assert [s["study_uid"] for s in found] == [studies.knee_study]
    assert "patient" not in found[0]

    lines = _kneeai(["pacs", "grade", studies.knee_study, "--push", "--json"], pacs_env)
    assert len(lines) == 2, lines
    client = orthanc.client()
    film = pull(client, knee_films(client, studies.knee_study)[0])
    # The same film through the same pipeline gives the same records as `grade --json`.
    expected = [knee_record(film.ref.path, k) for k in grade_radiograph(load_radiograph(film.data))]
    for line, want in zip(lines, expected):
        assert {k: v for k, v in line.items() if k in want} == want
        assert line["sop_instance_uid"] == studies.knee_instance and line["study_uid"] == studies.knee_study
    assert [(x["knee"]["laterality"], x["kl_grade"]) for x in lines] == expected_knees
    stored = lines[0]["stored"]
    assert lines[1]["stored"] == stored and stored["sr"] != stored["overlay"]

    # Both objects are in the study now, in KneeAI's own series.
    series = {s["0020000E"]["Value"][0]: s for s in client.search_series({}, study_uid=studies.knee_study)}
    by_sop = {}
    for uid in series:
        for inst in client.search_instances(studies.knee_study, uid):
            by_sop[inst["00080018"]["Value"][0]] = uid
    assert stored["sr"] in by_sop and stored["overlay"] in by_sop
    sr = client.retrieve_instance(studies.knee_study, by_sop[stored["sr"]], stored["sr"])
    sc = client.retrieve_instance(studies.knee_study, by_sop[stored["overlay"]], stored["overlay"])

    knees, disclaimer = read_kl_report(sr)
    assert disclaimer == DISCLAIMER
    assert [(k.laterality, k.kl_grade) for k in knees] == expected_knees
    for k, line in zip(knees, lines):
        assert [round(p, 6) for p in k.probabilities] == line["probabilities"]
        assert round(k.expected_grade, 6) == line["expected_grade"]
        assert (k.model_id, k.model_sha256) == (line["model"]["id"], line["model"]["sha256"])
        assert k.source_sop_uid == studies.knee_instance
    assert sr.PatientID == "KNEEAI-TEST-1" and sr.StudyInstanceUID == studies.knee_study
    assert sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0] \
        .ReferencedSOPInstanceUID == studies.knee_instance

    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and sc.StudyInstanceUID == studies.knee_study
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == studies.knee_instance
    assert sc.BurnedInAnnotation == "YES"
    assert all(f"knee {i} {lat}: KL{g}" in sc.ImageComments for i, (lat, g) in enumerate(expected_knees, start=1))
    pixels = sc.pixel_array
    # The film scaled to 1024 px on its longer side, in colour.
    assert pixels.shape == (round(FILM_SHAPE[0] * 1024 / FILM_SHAPE[1]), 1024, 3)
    # The heatmap colours the knees (not a grey copy of the film).
    assert (pixels[..., 0].astype(int) - pixels[..., 2].astype(int)).max() > 60

    if shutil.which("dciodvfy") or os.environ.get("KNEEAI_TEST_SH"):
        assert _dciodvfy_errors(dataset_bytes(sr), tmp_path, "sr.dcm") == []
        assert _dciodvfy_errors(dataset_bytes(sc), tmp_path, "sc.dcm") == []

    # The audit trail has the two gradings (film hash, no identity) and the export to the PACS.
    from kneeai.store.db import read_session
    from kneeai.store.models import AuditEvent

    with read_session() as s:
        kinds = [e.action for e in s.query(AuditEvent).order_by(AuditEvent.id)]
    assert kinds.count("grade") == 2 and kinds.count("export") == 1

    # Nothing the PACS said about the patient went into the registry.
    db = Path(os.environ["KNEEAI_DB"])
    stored_bytes = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert stored_bytes and b"KNEEAI^TEST" not in stored_bytes and b"KNEEAI-TEST-1" not in stored_bytes


def test_batch_grades_every_study_found(orthanc, studies, pacs_env, expected_knees):
    lines = _kneeai(["pacs", "batch", "--accession", studies.knee_accession, "--json"], pacs_env)
    assert [(x["knee"]["laterality"], x["kl_grade"]) for x in lines] == expected_knees
    assert all("stored" not in x for x in lines)


@pytest.mark.slow
def test_archive_batch_grades_a_pacs_query_and_a_rerun_pulls_nothing_again(orthanc, studies, pacs_env, expected_knees,
                                                                           tmp_path):
    import csv
    import io

    out = tmp_path / "archive"
    args = ["batch", "--pacs", "--accession", studies.knee_accession, "--out", str(out), "--include-file-names"]
    first = subprocess.run([sys.executable, "-m", "kneeai", *args], capture_output=True, text=True, timeout=300,
                           env={**os.environ, **pacs_env}, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    def table() -> list[dict]:
        return list(csv.DictReader(io.StringIO((out / "results.csv").read_text(encoding="utf-8"))))

    rows = table()
    assert [(r["laterality"] or None, int(r["kl_grade"])) for r in rows] == expected_knees
    # Each row names the film by its WADO-RS path, never by the patient.
    assert {r["file"] for r in rows} == {f"dicomweb:studies/{studies.knee_study}/series/" + r["file"].split("/series/")[1]
                                          for r in rows}
    assert "1 files (0 done by an earlier run)" in first.stdout

    again = subprocess.run([sys.executable, "-m", "kneeai", *args], capture_output=True, text=True, timeout=300,
                           env={**os.environ, **pacs_env}, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 files (1 done by an earlier run), 0 knees" in again.stdout
    assert table() == rows


@pytest.mark.slow
def test_archive_batch_of_an_unreachable_pacs_says_so(tmp_path):
    done = subprocess.run([sys.executable, "-m", "kneeai", "batch", "--pacs", "--url", "http://127.0.0.1:9/dicom-web",
                           "--out", str(tmp_path / "a")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "KNEEAI_PACS_PASSWORD": ""})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "127.0.0.1:9" in done.stderr or "PACS" in done.stderr
