"""Nothing committed is lost: a killed process, two users at once, backups that restore."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kneeai.store import audit, registry
from kneeai.store.backup import backup, integrity_check, restore, sqlite_path
from kneeai.store.db import dispose_engines, read_session
from tests.unit.fake_results import fake_grade, fake_risk

ROOT = Path(__file__).resolve().parents[2]

SAVER = """
import sys, time
from kneeai.store import registry
from kneeai.store.codec import encode_png
from tests.unit.fake_results import fake_crop, fake_grade, fake_risk
patient, tag, n, go = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
png = encode_png(fake_crop())
while go != "-" and not __import__("os").path.exists(go):
    time.sleep(0.005)
i = 0
while n < 0 or i < n:
    vid = registry.save_visit(patient, "2024-01-01", "L", "%s%062x" % (tag, i), png, fake_grade(i % 5), fake_risk(i % 5), None, {"i": i})
    print(vid, i, flush=True)
    i += 1
"""


def _saver(patient_id: int, tag: str, n: int, go: str = "-") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SAVER, str(patient_id), tag, str(n), go],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), cwd=ROOT)


def _check_all(expected: dict[int, int], tag: str) -> None:
    for vid, i in expected.items():
        v = registry.get_visit(vid)
        assert v.grade.kl_grade == i % 5 and v.image_sha256 == "%s%062x" % (tag, i) and v.clinical == {"i": i}
        assert v.risk is not None and len(v.risk.models) == 2 and v.crop_png


def test_killing_the_process_mid_save_loses_no_committed_visit():
    patient = registry.create_patient()
    dispose_engines()
    rng = random.Random(6)
    committed: dict[int, int] = {}
    for _ in range(3):
        proc = _saver(patient.id, "aa", -1)
        lines: list[str] = []
        while len(lines) < rng.randint(5, 15):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        # Land the kill at an arbitrary point of a later save (most of a save is inside its transaction).
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        lines += out.splitlines()
        assert proc.returncode == -signal.SIGKILL
        for line in lines:
            vid, i = map(int, line.split())
            committed[vid] = i
    dispose_engines()
    assert integrity_check() == ("ok",)
    _check_all(committed, "aa")
    stored = {v.id for v in registry.visits_for(patient.id)}
    # At most the one save in flight at each kill may have committed without being reported.
    assert set(committed) <= stored and len(stored - set(committed)) <= 3
    with read_session() as s:
        assert audit.verify_chain(s).ok


def test_two_users_saving_at_the_same_moment_both_succeed(tmp_path):
    a, b = registry.create_patient(), registry.create_patient()
    go = tmp_path / "go"
    procs = [_saver(a.id, "a1", 12, str(go)), _saver(b.id, "b2", 12, str(go))]
    time.sleep(1.0)  # both imported and waiting
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-800:] for r in results]
    for (out, _), tag, patient in zip(results, ("a1", "b2"), (a, b)):
        saved = dict(tuple(map(int, line.split())) for line in out.splitlines())
        assert len(saved) == 12
        _check_all(saved, tag)
        assert len(registry.visits_for(patient.id)) == 12
    with read_session() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.n_events == 2 + 2 * 12 * 2


def test_threads_in_one_app_share_the_registry_safely():
    p = registry.create_patient()
    errors: list[BaseException] = []

    def work(tag: str) -> None:
        try:
            for i in range(6):
                registry.save_visit(p.id, "2024-02-02", "R", "%s%062x" % (tag, i), None, fake_grade(i % 5), fake_risk(1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tag,)) for tag in ("c3", "d4", "e5")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(registry.visits_for(p.id)) == 18
    with read_session() as s:
        assert audit.verify_chain(s).ok


def test_backup_is_consistent_and_restores(tmp_path):
    p = registry.create_patient({"PatientID": "X1"})
    first = registry.save_visit(p.id, "2024-01-01", "L", "11" * 32, None, fake_grade(2), fake_risk(2), (3, "reason"))
    report = backup(tmp_path / "copies" / "registry-backup.db")
    assert report.ok and report.path.exists() and report.bytes > 0
    # Later work, then disaster: the live file is lost.
    registry.save_visit(p.id, "2024-06-01", "L", "22" * 32, None, fake_grade(3))
    live = sqlite_path()
    dispose_engines()
    for suffix in ("", "-wal", "-shm"):
        Path(str(live) + suffix).unlink(missing_ok=True)
    restored = restore(report.path)
    assert restored.ok
    visits = registry.visits_for(p.id)
    assert [v.id for v in visits] == [first] and visits[0].override.kl_grade == 3 and visits[0].risk == fake_risk(2)
    assert registry.get_patient(p.id, include_identifiers=True).identifiers == {"PatientID": "X1"}
    with read_session() as s:
        assert audit.verify_chain(s).ok
    # The restored registry takes new work.
    registry.save_visit(p.id, "2024-07-01", "L", "33" * 32, None, fake_grade(1))
    assert len(registry.visits_for(p.id)) == 2


def test_a_damaged_backup_is_reported_and_not_restored(tmp_path):
    p = registry.create_patient()
    report = backup(tmp_path / "b.db")
    data = bytearray(report.path.read_bytes())
    page = 4096
    for n in range(1, len(data) // page):
        data[n * page : n * page + 12] = b"\x0d" + b"\xff" * 11  # break every b-tree page header
    report.path.write_bytes(bytes(data))
    assert integrity_check(report.path) != ("ok",)
    assert not restore(report.path).ok
    assert registry.get_patient(p.id).pseudonym == p.pseudonym
