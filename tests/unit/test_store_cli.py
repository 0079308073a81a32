"""``python -m kneeai db backup | check | restore``."""
from __future__ import annotations

import sqlite3

from kneeai.__main__ import main
from kneeai.store import registry
from kneeai.store.backup import sqlite_path
from tests.unit.fake_results import fake_grade


def _some_work() -> int:
    p = registry.create_patient()
    return registry.save_visit(p.id, "2024-05-05", "L", "ab" * 32, None, fake_grade(2), None, (3, "reason"))


def test_check_passes_on_a_healthy_registry(capsys):
    _some_work()
    assert main(["db", "check"]) == 0
    out = capsys.readouterr().out
    assert "integrity: ok" in out and "3 events, hash chain intact" in out


def test_check_fails_on_tampering_and_says_where(capsys):
    _some_work()
    con = sqlite3.connect(sqlite_path())
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit_events SET output_json = replace(output_json, 'reason', 'other') WHERE action = 'override'")
    con.commit()
    con.close()
    assert main(["--lang", "zh", "db", "check"]) == 1
    out = capsys.readouterr().out
    assert "审计记录已被篡改" in out and "第 3 条" in out


def test_backup_and_restore_from_the_command_line(tmp_path, capsys):
    vid = _some_work()
    target = tmp_path / "backup.db"
    assert main(["db", "backup", str(target)]) == 0 and target.exists()
    registry.delete_visit(vid)
    assert main(["db", "restore", str(target)]) == 0
    assert registry.get_visit(vid).effective_grade == 3
    assert "Backup written and checked" in capsys.readouterr().out
    assert main(["db", "backup", str(sqlite_path())]) == 1  # never over the live file
