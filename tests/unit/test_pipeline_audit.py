"""Every entry point that grades notes its gradings in the audit trail through the pipeline:
`grade`, `report`, the report bundle and the archive, one event per graded knee, under the
film's hash and the entry point's subject, never the patient's identity."""
from __future__ import annotations

import hashlib
import shutil

import pytest

from kneeai.__main__ import main
from kneeai.store import trail
from kneeai.store.db import read_session
from kneeai.store.models import AuditEvent
from tests.conftest import ROOT
from tests.unit.test_cli_grade import _bilateral_film

KNEES = ROOT / "examples" / "knees"


def _grade_events() -> list[tuple[str | None, str]]:
    """(subject, input sha256) of every grading in the trail, oldest first."""
    with read_session() as s:
        return [(e.subject, e.input_sha256) for e in s.query(AuditEvent).order_by(AuditEvent.id) if e.action == "grade"]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_grade_notes_each_graded_knee_and_not_the_refused_file(tmp_path, capsys):
    knee = tmp_path / "knee.webp"
    shutil.copy(KNEES / "kl2_9015402R.webp", knee)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    assert main(["grade", str(knee), str(tmp_path / "broken.png"), "--json"]) == 1
    assert _grade_events() == [(None, _sha(knee))]
    assert trail.check_audit().ok


def test_report_on_a_bilateral_film_notes_both_knees_under_the_film(tmp_path, capsys):
    film = _bilateral_film(tmp_path)
    assert main(["report", str(film), "--no-heatmap", "--json", str(tmp_path / "out.json")]) == 0
    assert _grade_events() == [("cli", _sha(film))] * 2


def test_the_report_bundle_notes_its_gradings_as_a_batch(tmp_path):
    from kneeai.archive.bundle import BatchItem, run_batch

    items = [BatchItem(p.name, p.read_bytes()) for p in sorted(KNEES.glob("*.webp"))[:2]]
    result = run_batch(items, heatmap=False)
    assert sum(e is None for e in result.errors) == 2
    assert _grade_events() == [("batch", hashlib.sha256(i.data).hexdigest()) for i in items]


@pytest.mark.parametrize("chunk", [1, 64])
def test_the_archive_notes_every_graded_knee_once_even_when_resumed(tmp_path, monkeypatch, chunk):
    from kneeai.archive import run as archive_run

    monkeypatch.setattr(archive_run, "COMMIT_FILES", chunk)
    files = sorted(KNEES.glob("*.webp"))[:3]
    s = archive_run.run_archive(files, tmp_path / "out")
    assert s.graded_knees == 3
    assert _grade_events() == [("archive", _sha(p)) for p in files]
    again = archive_run.run_archive(files, tmp_path / "out")  # everything done: nothing graded, nothing noted
    assert again.skipped == 3 and len(_grade_events()) == 3
