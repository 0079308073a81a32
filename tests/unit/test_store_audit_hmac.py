"""The audit chain sealed with HMAC-SHA256 under a key outside the database, and what
``python -m kneeai db check`` finds when someone with the database file (but not the key) edits,
deletes or re-hashes rows; admin actions (backup, restore, role change) in the audit."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat

import pytest

from kneeai.__main__ import main
from kneeai.errors import AuditKeyError, RestoreRefused
from kneeai.store import audit, registry, trail
from kneeai.store.backup import backup, restore, sqlite_path
from kneeai.store.db import dispose_engines, read_session
from tests.unit.fake_results import fake_grade, fake_risk

COLS = ("id", "at", "action", "user", "subject", "model_id", "weights_sha256", "input_sha256", "output_json", "prev_hash",
        "hash", "scheme", "key_id")


def _fill() -> int:
    p = registry.create_patient()
    vid = registry.save_visit(p.id, "2024-01-01", "L", "ee" * 32, None, fake_grade(2), fake_risk(2), (3, "clinician reading"))
    trail.record_export("pdf", b"%PDF-fake", subject=f"visit:{vid}")
    return vid  # events: 1 patient, 2 grade, 3 risk, 4 override, 5 export


def _sql(*statements: str, params: tuple = ()) -> None:
    """What someone with the file and a SQLite shell (but not the key) can do."""
    dispose_engines()
    con = sqlite3.connect(sqlite_path())
    con.execute("DROP TRIGGER IF EXISTS audit_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    for sql in statements:
        con.execute(sql, params)
    con.commit()
    con.close()


def _rows() -> list[dict]:
    con = sqlite3.connect(sqlite_path())
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in COLS)} FROM audit_events ORDER BY id")]
    con.close()
    return rows


def _plain_sha256(row: dict) -> str:
    """The pre-v3 formula, the best an attacker without the key can do."""
    fields = {k: row[k] for k in COLS[:9]}
    fields["output"] = fields.pop("output_json")
    return hashlib.sha256((audit.canonical_json(fields) + row["prev_hash"]).encode()).hexdigest()


def _check(capsys, lang: str = "en") -> tuple[int, str]:
    code = main(["--lang", lang, "db", "check"])
    return code, capsys.readouterr().out


def test_key_file_is_created_beside_the_database_owner_only_and_seals_every_row():
    _fill()
    path = audit.audit_key_path()
    assert path == sqlite_path().with_name("kneeai.db.audit-key") and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes().strip()
    rows = _rows()
    assert [r["scheme"] for r in rows] == [audit.SCHEME] * 5 and {r["key_id"] for r in rows} == {audit.key_id(key)}
    # The seal is an HMAC under the file's key, not anything computable from the row alone.
    assert rows[1]["hash"] == audit.seal(rows[1], key) != _plain_sha256(rows[1])
    assert key not in sqlite_path().read_bytes()


def test_env_key_is_used_instead_of_a_file(monkeypatch):
    monkeypatch.setenv("KNEEAI_AUDIT_KEY", "k" * 40)
    _fill()
    assert not audit.audit_key_path().exists()
    assert {r["key_id"] for r in _rows()} == {audit.key_id(b"k" * 40)}
    with read_session() as s:
        assert audit.verify_chain(s).ok
    monkeypatch.setenv("KNEEAI_AUDIT_KEY", "short")
    with pytest.raises(AuditKeyError, match="too short"):
        registry.create_patient()


def test_healthy_chain_passes_db_check(capsys):
    _fill()
    code, out = _check(capsys)
    assert code == 0 and "5 events, hash chain intact" in out


def test_db_check_finds_an_edited_row(capsys):
    _fill()
    _sql("UPDATE audit_events SET output_json = replace(output_json, '\"kl_grade\":2', '\"kl_grade\":0') WHERE id = 2")
    code, out = _check(capsys)
    assert code == 1 and "event 2 fails (its content no longer matches its hash)" in out


def test_db_check_finds_a_deleted_row(capsys):
    _fill()
    _sql("DELETE FROM audit_events WHERE id = 4")
    code, out = _check(capsys, "zh")
    assert code == 1 and "第 5 条" in out and "其之前有记录缺失" in out


def test_db_check_finds_a_deleted_row_even_when_the_rest_is_renumbered_and_relinked(capsys):
    """Delete event 3, shift 4 and 5 down and relink them: without the key their seals cannot follow."""
    _fill()
    rows = _rows()
    _sql("DELETE FROM audit_events WHERE id = 3")
    _sql("UPDATE audit_events SET id = 3, prev_hash = ? WHERE id = 4", params=(rows[1]["hash"],))
    _sql("UPDATE audit_events SET id = 4 WHERE id = 5")
    code, out = _check(capsys)
    assert code == 1 and "event 3 fails (its content no longer matches its hash)" in out


def test_db_check_finds_rows_rehashed_without_the_key(capsys):
    """Edit event 2 and recompute its hash and every later link, as one could with plain SHA-256."""
    _fill()
    rows = _rows()
    rows[1]["output_json"] = rows[1]["output_json"].replace('"kl_grade":2', '"kl_grade":0')
    for i in range(1, len(rows)):
        rows[i]["prev_hash"] = rows[i - 1]["hash"]
        rows[i]["hash"] = _plain_sha256(rows[i])
    _sql(*(f"UPDATE audit_events SET output_json = '{r['output_json']}', prev_hash = '{r['prev_hash']}', hash = '{r['hash']}' "
           f"WHERE id = {r['id']}" for r in rows[1:]))
    code, out = _check(capsys)
    assert code == 1 and "event 2 fails (its content no longer matches its hash)" in out


def test_db_check_finds_a_chain_rewritten_as_plain_sha256(capsys):
    """Re-hash every row under the old keyless scheme (scheme NULL): refused, there is no keyed row left."""
    _fill()
    rows = _rows()
    prev = audit.GENESIS
    for r in rows:
        r["prev_hash"], r["scheme"], r["key_id"] = prev, None, None
        r["hash"] = prev = _plain_sha256(r)
    _sql(*(f"UPDATE audit_events SET prev_hash = '{r['prev_hash']}', hash = '{r['hash']}', scheme = NULL, key_id = NULL "
           f"WHERE id = {r['id']}" for r in rows))
    code, out = _check(capsys)
    assert code == 1 and "event 1 fails (it is sealed with plain SHA-256" in out


def test_a_plain_row_after_keyed_rows_is_refused(capsys):
    _fill()
    last = _rows()[-1]
    forged = dict(last, id=6, action="export", output_json='{"format":"pdf"}', prev_hash=last["hash"], scheme=None, key_id=None)
    forged["hash"] = _plain_sha256(forged)
    _sql(f"INSERT INTO audit_events ({', '.join(chr(34) + c + chr(34) for c in COLS)}) VALUES ({', '.join('?' * len(COLS))})",
         params=tuple(forged[c] for c in COLS))
    code, out = _check(capsys)
    assert code == 1 and "event 6 fails (it is sealed with plain SHA-256" in out


def test_another_key_or_no_key_is_told_apart_from_tampering(monkeypatch, capsys):
    _fill()
    monkeypatch.setenv("KNEEAI_AUDIT_KEY", "x" * 64)
    code, out = _check(capsys)
    assert code == 1 and "event 1 fails (it was sealed with another audit key" in out
    monkeypatch.delenv("KNEEAI_AUDIT_KEY")
    audit.audit_key_path().unlink()
    code, out = _check(capsys)
    assert code == 1 and "another audit key, or no audit key is available here" in out
    assert not audit.audit_key_path().exists()  # checking never creates a key


def test_a_key_file_others_can_read_is_refused(capsys):
    _fill()
    os.chmod(audit.audit_key_path(), 0o644)
    assert main(["db", "check"]) == 1
    assert "can be read by other users (mode 0o644)" in capsys.readouterr().err
    with pytest.raises(AuditKeyError):
        registry.create_patient()


def test_backup_restore_and_role_change_are_audit_events(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KNEEAI_USER", "admin.ann")
    vid = _fill()
    target = tmp_path / "backup.db"
    assert main(["db", "backup", str(target)]) == 0
    registry.delete_visit(vid)
    with read_session() as s:
        before_restore = audit.head(s)  # 7 events: 5, backup, deletion
    assert main(["db", "restore", str(target)]) == 0
    rows = _rows()
    assert [r["action"] for r in rows] == ["patient", "grade", "risk", "override", "export", "restore"]
    restored = json.loads(rows[-1]["output_json"])
    assert restored["file"] == "backup.db" and restored["backup_events"] == 5
    assert (restored["replaced_events"], restored["replaced_head"]) == before_restore and rows[-1]["user"] == "admin.ann"
    assert restored["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    from kneeai.store.users import set_user_roles

    set_user_roles("dr.lee", ["clinician"], user="admin.ann")
    rows = _rows()
    assert rows[-1]["action"] == "role_change" and json.loads(rows[-1]["output_json"]) == {
        "user": "dr.lee", "roles": ["clinician"], "previous": []}
    # A backup records the chain it copied (6 events + the role change), as the 8th event.
    live = tmp_path / "again.db"
    backup(live)
    last = _rows()[-1]
    assert last["action"] == "backup" and json.loads(last["output_json"])["events"] == 7
    code, out = _check(capsys)
    assert code == 0 and "8 events, hash chain intact" in out


def test_a_backup_with_a_tampered_chain_is_not_restored(tmp_path):
    vid = _fill()
    target = tmp_path / "backup.db"
    backup(target)
    con = sqlite3.connect(target)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit_events SET user = 'someone' WHERE id = 2")
    con.commit()
    con.close()
    registry.delete_visit(vid)
    with pytest.raises(RestoreRefused) as caught:
        restore(target)
    assert "event 2: its content no longer matches its hash" in caught.value.message("en")
    assert "未予恢复" in caught.value.message("zh")
    with pytest.raises(Exception):
        registry.get_visit(vid)  # the live registry was left alone


def test_a_plain_sha256_chain_upgrades_and_is_anchored_under_the_key(capsys):
    """A schema-v1/v2 registry (plain SHA-256 rows) gets a keyed chain_upgrade event covering its
    head; re-hashing an old row afterwards is then found at that event."""
    from tests.unit.test_store_migrations import _v1_database

    _v1_database()
    registry.list_patients()  # opening it runs the migration to v3
    rows = _rows()
    assert [(r["action"], r["scheme"]) for r in rows] == [("grade", None), ("chain_upgrade", audit.SCHEME)]
    anchor = json.loads(rows[1]["output_json"])
    assert anchor == {"from": "sha256", "to": audit.SCHEME, "events": 1, "head": rows[0]["hash"], "chain_ok": True,
                      "first_bad_id": None}
    code, out = _check(capsys)
    assert code == 0 and "2 events, hash chain intact" in out
    old = dict(rows[0], output_json='{"kl_grade":0}')
    old["hash"] = _plain_sha256(old)
    _sql(f"UPDATE audit_events SET output_json = '{old['output_json']}', hash = '{old['hash']}' WHERE id = 1")
    code, out = _check(capsys)
    assert code == 1 and "event 2 fails (it does not link to the event before it)" in out
