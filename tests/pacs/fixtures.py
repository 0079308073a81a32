"""A real Orthanc for the PACS tests (used by tests/pacs/conftest.py and tests/e2e/test_browser_pacs.py).

``scripts/test.sh`` starts one (``scripts/services/orthanc.sh``) and exports
``KNEEAI_TEST_ORTHANC_URL`` (+ ``_USER``, ``_PASSWORD``). Run alone, the tests start their own from
the same committed configuration when Debian's ``Orthanc`` is installed, and skip only when it is
not and they are not under ``scripts/test.sh`` (which exports ``KNEEAI_TEST_SH=1``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pacs.films import LoadedStudies, load_into

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "scripts" / "orthanc" / "orthanc.json"


@dataclass(frozen=True)
class Orthanc:
    url: str
    user: str
    password: str

    def client(self, password: str | None = None):
        from kneeai.pacs.client import PacsClient, PacsSettings

        return PacsClient(PacsSettings(self.url, self.user, self.password if password is None else password, 20.0))

    def env(self) -> dict[str, str]:
        return {"KNEEAI_PACS_URL": self.url, "KNEEAI_PACS_USER": self.user, "KNEEAI_PACS_PASSWORD": self.password}


def _answers(orthanc: Orthanc) -> bool:
    from kneeai.errors import KneeAIError

    try:
        orthanc.client().search_studies({}, limit=1)
        return True
    except KneeAIError:
        return False


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Iterator[Orthanc]:
    url = os.environ.get("KNEEAI_TEST_ORTHANC_URL")
    if url:
        o = Orthanc(url.rstrip("/"), os.environ.get("KNEEAI_TEST_ORTHANC_USER", "kneeai"),
                    os.environ.get("KNEEAI_TEST_ORTHANC_PASSWORD", "kneeai-test"))
        assert _answers(o), f"KNEEAI_TEST_ORTHANC_URL={url} does not answer"
        yield o
        return
    binary = shutil.which("Orthanc")
    if binary is None:
        assert not os.environ.get("KNEEAI_TEST_SH"), "scripts/test.sh must start Orthanc (scripts/services/orthanc.sh)"
        pytest.skip("no Orthanc: run bash scripts/test.sh, or install Debian's orthanc and orthanc-dicomweb")
    from tests.e2e.browser import free_port

    home = tmp_path_factory.mktemp("orthanc")
    conf = home / "conf"
    conf.mkdir()
    shutil.copy(CONFIG, conf / "orthanc.json")
    port = free_port()
    (conf / "runtime.json").write_text(json.dumps({"HttpPort": port, "StorageDirectory": str(home / "db"),
                                                   "IndexDirectory": str(home / "db")}))
    log = home / "orthanc.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, str(conf)], stdout=out, stderr=subprocess.STDOUT)
    o = Orthanc(f"http://127.0.0.1:{port}/dicom-web", "kneeai", "kneeai-test")
    try:
        deadline = time.time() + 30
        while not _answers(o):
            assert proc.poll() is None, "Orthanc exited: " + log.read_text(errors="replace")[-2000:]
            assert time.time() < deadline, "Orthanc did not start: " + log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        yield o
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def studies(orthanc) -> LoadedStudies:
    """The synthetic knee, chest and text-report studies, loaded once per test session."""
    return load_into(orthanc.client())


@pytest.fixture(scope="session")
def expected_knees(orthanc, studies) -> list[tuple[str | None, int]]:
    """(laterality, KL grade) of the knee film's knees, from the pipeline run here on the pulled film."""
    from kneeai.io import load_radiograph
    from kneeai.pacs.query import knee_films, pull
    from kneeai.pipeline import grade_radiograph

    client = orthanc.client()
    film = pull(client, knee_films(client, studies.knee_study)[0])
    knees = grade_radiograph(load_radiograph(film.data))
    assert [k.knee.laterality for k in knees] == ["R", "L"] and all(k.result is not None for k in knees)
    return [(k.knee.laterality, k.result.kl_grade) for k in knees]


@pytest.fixture()
def pacs_env(orthanc, monkeypatch) -> dict[str, str]:
    for k, v in orthanc.env().items():
        monkeypatch.setenv(k, v)
    return orthanc.env()
