"""The PACS page in real Chromium against a real Orthanc: find the study, grade its film, store
the SR and the overlay, and read both back from Orthanc with the grade intact."""
from __future__ import annotations

import re

import pytest

from kneeai.i18n import t
from kneeai.pacs.sr import read_kl_report
from tests.e2e.browser import chromium_page, streamlit_server, wait_idle
from tests.pacs.films import FILM_SHAPE
from tests.pacs.fixtures import expected_knees, orthanc, studies  # noqa: F401

pytestmark = pytest.mark.e2e


def test_pacs_page_finds_grades_and_stores_back(orthanc, studies, expected_knees, tmp_path, monkeypatch):  # noqa: F811
    for k, v in orthanc.env().items():
        monkeypatch.setenv(k, v)  # read by the `streamlit run` child: the server's own PACS settings
    with streamlit_server(tmp_path / "kneeai.db") as url, chromium_page() as page:
        page.goto(url + "/pacs")
        wait_idle(page)
        page.get_by_label(t("pacs.accession", "en")).fill(studies.knee_accession)
        page.get_by_role("button", name=t("pacs.search", "en")).click()
        wait_idle(page)
        page.get_by_text(t("pacs.n_studies", "en", n=1)).wait_for()
        page.get_by_text(t("pacs.films", "en", n=1)).wait_for()
        # The PACS's patient identity is not on the page unless asked for.
        assert "KNEEAI^TEST" not in page.inner_text("body")
        page.get_by_role("button", name=t("pacs.grade_film", "en")).click()
        sides = {"R": t("grade.lat_right", "en"), "L": t("grade.lat_left", "en")}
        # Wait for the answer itself: on a busy machine the page can sit unchanged for longer than
        # wait_idle's settle time between the click and the rerun's first output.
        first = t("pacs.knee_result", "en", n=1, side=sides[expected_knees[0][0]], grade=0, expected="")
        page.get_by_text(first[:first.index("KL") + 2]).first.wait_for()
        wait_idle(page)
        body = page.inner_text("body")
        for n, (lat, grade) in enumerate(expected_knees, start=1):
            shown = t("pacs.knee_result", "en", n=n, side=sides[lat], grade=grade, expected="").rstrip()
            assert shown in body, body[-3000:]
        store = page.get_by_role("button", name=t("pacs.store", "en"))
        assert store.is_disabled()  # nothing is written into the PACS without the user's confirmation
        page.get_by_text(t("pacs.store_confirm", "en")).click()
        wait_idle(page)
        store.click()
        stored = re.compile(r"report ([0-9.]+), overlay ([0-9.]+)\.")
        page.get_by_text(stored).wait_for()
        done = stored.search(page.inner_text("body"))
        assert done, page.inner_text("body")[-3000:]
        page.screenshot(path=str(tmp_path / "pacs.png"), full_page=True)
        # Batch over the studies found: a progress bar, then a table of every knee.
        page.get_by_role("button", name=t("pacs.batch_run", "en")).click()
        wait_idle(page)
        page.get_by_text(t("pacs.batch_done", "en", n=len(expected_knees), failed=0)).wait_for()
        # The pulled film goes on to the usual Grade page (and from there to a registry patient, if the user saves it).
        page.get_by_role("button", name=t("pacs.open_in_grade", "en")).click()
        wait_idle(page)
        page.get_by_text(f"{FILM_SHAPE[0]} × {FILM_SHAPE[1]} pixels").wait_for()
        assert page.get_by_role("heading", name=t("nav.grade", "en")).count() == 1
    sr_uid, overlay_uid = done.groups()

    client = orthanc.client()
    where = {}
    for s in client.search_series({}, study_uid=studies.knee_study):
        series = s["0020000E"]["Value"][0]
        for inst in client.search_instances(studies.knee_study, series):
            where[inst["00080018"]["Value"][0]] = series
    sr = client.retrieve_instance(studies.knee_study, where[sr_uid], sr_uid)
    knees, _ = read_kl_report(sr)
    assert [(k.laterality, k.kl_grade) for k in knees] == expected_knees
    assert all(k.source_sop_uid == studies.knee_instance for k in knees)
    sc = client.retrieve_instance(studies.knee_study, where[overlay_uid], overlay_uid)
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == studies.knee_instance
    assert all(f"KL{g}" in sc.ImageComments for _, g in expected_knees)
