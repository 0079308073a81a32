"""An upgraded app opens an old database: a hand-built schema-v1 file is migrated in place."""
from __future__ import annotations

import json
import sqlite3

import pytest

from kneeai.errors import SchemaTooNew
from kneeai.store import audit, registry
from kneeai.store.backup import integrity_check, sqlite_path
from kneeai.store.db import dispose_engines, get_engine, read_session
from kneeai.store.migrations import LATEST
from kneeai.store.models import AuditEvent
from tests.unit.fake_results import fake_grade

# The schema as version 1 of KneeAI created it (frozen here on purpose: never regenerate it).
V1_DDL = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at VARCHAR(32) NOT NULL, PRIMARY KEY (version));
CREATE TABLE patients (id INTEGER NOT NULL, pseudonym VARCHAR(16) NOT NULL, created_at VARCHAR(32) NOT NULL, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_patients_pseudonym ON patients (pseudonym);
CREATE TABLE audit_events (id INTEGER NOT NULL, at VARCHAR(32) NOT NULL, action VARCHAR(32) NOT NULL, user VARCHAR(128),
  subject VARCHAR(64), model_id TEXT, weights_sha256 TEXT, input_sha256 VARCHAR(64), output_json TEXT NOT NULL,
  prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL, PRIMARY KEY (id), UNIQUE (hash));
CREATE TABLE identifiers (id INTEGER NOT NULL, patient_id INTEGER NOT NULL, kind VARCHAR(64) NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (id), UNIQUE (patient_id, kind), FOREIGN KEY(patient_id) REFERENCES patients (id) ON DELETE CASCADE);
CREATE TABLE visits (id INTEGER NOT NULL, patient_id INTEGER NOT NULL, visit_date DATE NOT NULL, laterality VARCHAR(1),
  created_at VARCHAR(32) NOT NULL, user VARCHAR(128), clinical_json TEXT, PRIMARY KEY (id),
  FOREIGN KEY(patient_id) REFERENCES patients (id) ON DELETE CASCADE);
CREATE TABLE knee_images (id INTEGER NOT NULL, visit_id INTEGER NOT NULL, sha256 VARCHAR(64) NOT NULL, crop_png BLOB,
  PRIMARY KEY (id), UNIQUE (visit_id), FOREIGN KEY(visit_id) REFERENCES visits (id) ON DELETE CASCADE);
CREATE TABLE grade_results (id INTEGER NOT NULL, visit_id INTEGER NOT NULL, kl_grade INTEGER NOT NULL,
  probabilities_json TEXT NOT NULL, expected_grade FLOAT NOT NULL, entropy FLOAT NOT NULL, flip_disagreement FLOAT NOT NULL,
  model_id VARCHAR(128) NOT NULL, model_sha256 VARCHAR(64) NOT NULL, placeholder BOOLEAN NOT NULL,
  outside_validated_use BOOLEAN NOT NULL, PRIMARY KEY (id), UNIQUE (visit_id),
  FOREIGN KEY(visit_id) REFERENCES visits (id) ON DELETE CASCADE);
CREATE TABLE risk_results (id INTEGER NOT NULL, visit_id INTEGER NOT NULL, model_name VARCHAR(64) NOT NULL,
  model_id VARCHAR(128) NOT NULL, model_sha256 VARCHAR(64) NOT NULL, simulated BOOLEAN NOT NULL, inputs_json TEXT NOT NULL,
  risk_json TEXT NOT NULL, PRIMARY KEY (id), FOREIGN KEY(visit_id) REFERENCES visits (id) ON DELETE CASCADE);
CREATE TABLE overrides (id INTEGER NOT NULL, visit_id INTEGER NOT NULL, kl_grade INTEGER NOT NULL, reason TEXT NOT NULL,
  user VARCHAR(128), created_at VARCHAR(32) NOT NULL, PRIMARY KEY (id),
  FOREIGN KEY(visit_id) REFERENCES visits (id) ON DELETE CASCADE);
"""


def _v1_database(with_version_table: bool = True) -> None:
    dispose_engines()
    path = sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(V1_DDL)
    if with_version_table:
        con.execute("INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00+00:00')")
    else:
        con.execute("DROP TABLE schema_version")
    con.execute("INSERT INTO patients VALUES (1, 'KN-0A1B2C', '2025-01-01T00:00:00+00:00')")
    con.execute("INSERT INTO identifiers VALUES (1, 1, 'PatientID', 'OLD-7')")
    con.execute("INSERT INTO visits VALUES (1, 1, '2025-01-02', 'R', '2025-01-02T09:00:00+00:00', NULL, ?)", (json.dumps({"age": 70}),))
    con.execute("INSERT INTO knee_images VALUES (1, 1, ?, NULL)", ("9" * 64,))
    con.execute("INSERT INTO grade_results VALUES (1, 1, 3, ?, 2.9, 0.7, 0.02, 'kl-v1', ?, 0, 0)",
                (json.dumps([0.0, 0.05, 0.15, 0.6, 0.2]), "5" * 64))
    con.execute("INSERT INTO overrides VALUES (1, 1, 4, 'bone-on-bone', 'dr.a', '2025-01-02T09:05:00+00:00')")
    event = AuditEvent(id=1, at="2025-01-02T09:00:00+00:00", action="grade", user=None, subject="visit:1", model_id="kl-v1",
                       weights_sha256="5" * 64, input_sha256="9" * 64, output_json='{"kl_grade":3}', prev_hash=audit.GENESIS)
    con.execute("INSERT INTO audit_events VALUES (1, ?, 'grade', NULL, 'visit:1', 'kl-v1', ?, ?, ?, ?, ?)",
                (event.at, "5" * 64, "9" * 64, event.output_json, audit.GENESIS, audit.row_hash(event)))
    con.commit()
    con.close()


@pytest.mark.parametrize("with_version_table", [True, False])
def test_v1_database_upgrades_and_keeps_everything(with_version_table):
    _v1_database(with_version_table)
    v = registry.get_visit(1)
    assert v.pseudonym == "KN-0A1B2C" and v.grade.kl_grade == 3 and v.effective_grade == 4 and v.clinical == {"age": 70}
    assert v.mm_per_pixel is None and v.heatmap_png is None
    assert v.inverted is False  # schema v5: visits saved before it were never turned back
    assert registry.get_patient(1, include_identifiers=True).identifiers == {"PatientID": "OLD-7"}
    con = sqlite3.connect(sqlite_path())
    cols = {r[1] for r in con.execute("PRAGMA table_info(knee_images)")}
    versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version")]
    triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert {"mm_per_pixel", "heatmap_png", "inverted"} <= cols and versions == list(range(1, LATEST + 1))
    assert "user_roles" in tables  # schema v4
    assert triggers == {"audit_no_update", "audit_no_delete"}
    # New work uses the new columns, and the old chain continues.
    vid = registry.save_visit(1, "2026-01-02", "R", "8" * 64, None, fake_grade(4), mm_per_pixel=0.25)
    assert registry.get_visit(vid).mm_per_pixel == 0.25
    turned = registry.save_visit(1, "2026-01-03", "L", "8" * 64, None, fake_grade(2), inverted=True)
    assert registry.get_visit(turned).inverted is True and registry.get_visit(vid).inverted is False
    with read_session() as s:
        assert audit.verify_chain(s).ok
    assert integrity_check() == ("ok",)


def test_upgrade_is_idempotent():
    _v1_database()
    get_engine()
    dispose_engines()
    get_engine()
    con = sqlite3.connect(sqlite_path())
    assert [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version")] == list(range(1, LATEST + 1))
    con.close()


def test_a_newer_database_is_refused_not_guessed_at():
    _v1_database()
    con = sqlite3.connect(sqlite_path())
    con.execute("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    with pytest.raises(SchemaTooNew):
        registry.list_patients()
