"""`python -m kneeai batch --out`: archive grading streamed to CSV and Parquet, resumable after a
crash at any point, with the same bytes from a local and a Ray run."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kneeai.__main__ import main
from kneeai.archive import run as archive_run
from kneeai.archive.output import CSV_NAME, MANIFEST, PARQUET_DIR, SUMMARY, ArchiveOutput
from kneeai.archive.rows import COLUMNS
from kneeai.archive.run import run_archive
from kneeai.errors import KneeAIError
from tests.conftest import ROOT

KNEES = sorted((ROOT / "examples" / "knees").glob("*.webp"))


@pytest.fixture
def archive(tmp_path):
    """Ten inputs in nested folders: the eight example knees, a noise image and a broken file."""
    src = tmp_path / "in"
    for i, p in enumerate(KNEES):
        d = src / f"site{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, d / p.name)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).save(src / "noise.png")
    (src / "broken.dcm").write_bytes(b"DICM" * 40)
    from kneeai.cli.grade import iter_inputs

    return list(iter_inputs([src]))


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(archive_run, "COMMIT_FILES", 3)


def _table(out):
    return (out / CSV_NAME).read_bytes()


def test_every_file_gives_rows_in_input_order_in_csv_and_parquet(archive, tmp_path):
    out = tmp_path / "out"
    s = run_archive(archive, out)
    assert (s.files, s.graded_files, s.knees, s.graded_knees, s.skipped) == (10, 10, 9, 8, 0)
    df = pd.read_csv(out / CSV_NAME)
    assert list(df.columns) == list(COLUMNS)  # no file column unless asked
    assert list(df["item"]) == list(range(1, 11))
    assert df["kl_grade"].notna().sum() == 8
    # The refusals are counted by reason: the noise image by the gate, the broken file by intake.
    assert sum(s.refusals.values()) == 2 and len(s.refusals) == 2
    assert any(k.startswith("gate.reason.") for k in s.refusals) and any("error." in k for k in s.refusals)
    noise_row = df[df["item"] == archive.index(next(p for p in archive if p.name == "noise.png")) + 1].iloc[0]
    assert noise_row["refusal_reason"].startswith("gate.reason.") and isinstance(noise_row["error"], str)
    pq = pd.read_parquet(out / PARQUET_DIR).sort_values("item").reset_index(drop=True)
    assert len(list((out / PARQUET_DIR).glob("*.parquet"))) == 4  # chunks of 3 files
    assert pq["item"].tolist() == df["item"].tolist()
    assert np.allclose(pq["p_kl3"].fillna(-1), df["p_kl3"].fillna(-1))
    # A KL4 example is graded above a KL0 one.
    by_name = {p.name: i + 1 for i, p in enumerate(archive)}
    grade = dict(zip(df["item"], df["expected_grade"]))
    assert grade[by_name["kl4_9070207R.webp"]] > grade[by_name["kl0_9006140L.webp"]] + 2
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["graded_knees"] == 8 and summary["timing"]["seconds"] > 0


def test_a_crash_mid_run_resumes_without_regrading_and_without_lost_or_doubled_rows(archive, tmp_path, monkeypatch):
    clean = tmp_path / "clean"
    run_archive(archive, clean)
    out = tmp_path / "out"
    real_commit = ArchiveOutput.commit
    calls = {"n": 0}

    def crash_after_two(self, files):
        calls["n"] += 1
        if calls["n"] == 3:
            # Die half-way through the third chunk: CSV rows written, nothing else.
            with open(self.folder / CSV_NAME, "a") as f:
                f.write("99,1,half a row")
            raise KeyboardInterrupt
        real_commit(self, files)

    monkeypatch.setattr(ArchiveOutput, "commit", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_archive(archive, out)
    (out / PARQUET_DIR / "part-00002.parquet.tmp").write_bytes(b"torn")
    with open(out / MANIFEST, "a") as f:
        f.write('{"path": "torn')
    monkeypatch.setattr(ArchiveOutput, "commit", real_commit)
    graded: list[str] = []
    real_rows = archive_run.file_rows

    def spy(graded_file, item, lang, path=None):
        graded.append(graded_file.path)
        return real_rows(graded_file, item, lang, path)

    monkeypatch.setattr(archive_run, "file_rows", spy)
    s = run_archive(archive, out)
    assert s.skipped == 6 and s.graded_files == 4 and len(graded) == 4  # only what was not committed
    assert _table(out) == _table(clean)
    for part in sorted((clean / PARQUET_DIR).iterdir()):
        assert (out / PARQUET_DIR / part.name).read_bytes() == part.read_bytes()
    assert sorted(p.name for p in (out / PARQUET_DIR).iterdir()) == sorted(p.name for p in (clean / PARQUET_DIR).iterdir())
    # A third run finds everything done.
    assert run_archive(archive, out).graded_files == 0


def test_resuming_with_other_options_is_refused_with_a_message(archive, tmp_path):
    out = tmp_path / "out"
    run_archive(archive[:2], out)
    with pytest.raises(KneeAIError) as err:
        run_archive(archive[:2], out, include_file_names=True)
    assert err.value.key == "error.archive_options_changed" and "include_file_names" in err.value.message("en")
    assert "--restart" in err.value.message("zh")
    s = run_archive(archive[:2], out, include_file_names=True, restart=True)
    assert s.graded_files == 2 and "file" in pd.read_csv(out / CSV_NAME).columns


def test_a_folder_of_something_else_is_not_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("not ours\n")
    with pytest.raises(KneeAIError) as err:
        ArchiveOutput.open(out, {"lang": "en"})
    assert err.value.key == "error.archive_foreign"


def test_formula_like_paths_are_defused_in_the_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    odd = tmp_path / "=HYPERLINK(1)"
    odd.mkdir()
    shutil.copy(KNEES[0], odd / "knee.webp")
    out = tmp_path / "out"
    run_archive(["=HYPERLINK(1)/knee.webp"], out, include_file_names=True)
    cell = pd.read_csv(out / CSV_NAME)["file"].iloc[0]
    assert cell == "'=HYPERLINK(1)/knee.webp"
    # The Parquet table is for programs, not spreadsheets: the path as given.
    assert pd.read_parquet(out / PARQUET_DIR)["file"].iloc[0] == "=HYPERLINK(1)/knee.webp"


def test_cli_list_file_and_summary_in_chinese(archive, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("# knees\n" + "\n".join(str(p) for p in archive[:4]) + "\n\n")
    out = tmp_path / "out"
    assert main(["--lang", "zh", "batch", "--list", str(listing), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "共 4 个文件" in printed and str(out / CSV_NAME) in printed
    assert len(pd.read_csv(out / CSV_NAME)) == 4


def test_batch_without_an_output_says_what_to_pass(tmp_path, capsys):
    assert main(["batch", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_run_gives_the_same_bytes_as_the_local_run(archive, tmp_path):
    pytest.importorskip("ray")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run_archive(archive, local)
    s = run_archive(archive, on_ray, ray_address="local", workers=2)
    assert s.mode == "ray" and s.graded_files == 10
    assert _table(on_ray) == _table(local)
    parts = sorted(p.name for p in (local / PARQUET_DIR).iterdir())
    assert parts == sorted(p.name for p in (on_ray / PARQUET_DIR).iterdir())
    for name in parts:
        assert (on_ray / PARQUET_DIR / name).read_bytes() == (local / PARQUET_DIR / name).read_bytes()
    a, b = (json.loads((d / SUMMARY).read_text()) for d in (local, on_ray))
    a.pop("timing"), b.pop("timing"), a.pop("mode"), b.pop("mode")
    assert a == b


def test_a_500_file_report_bundle_is_refused_up_front_with_bounded_memory(tmp_path, capsys):
    import tracemalloc

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(500):
        shutil.copy(KNEES[i % len(KNEES)], folder / f"{i:03d}.webp")
    # What the command imports is not what it holds: import it before measuring.
    import tqdm  # noqa: F401

    import kneeai.archive.bundle  # noqa: F401
    import kneeai.cli.batch  # noqa: F401
    from kneeai.i18n import t

    t("error.batch_too_many", "zh", n=1, max=1)
    tracemalloc.start()
    code = main(["--lang", "zh", "batch", str(folder), "--zip", str(tmp_path / "b.zip"), "--csv", str(tmp_path / "b.csv")])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code != 0 and "500" in err and "--out" in err  # says what to do instead, in Chinese
    assert "上限" in err
    assert not (tmp_path / "b.zip").exists()
    # Nothing was read: the 500 files are counted, not loaded (measured ~0.3 MB).
    assert peak < 5 * 2**20, peak


def test_the_bundle_reads_files_one_at_a_time_from_disk(tmp_path):
    from kneeai.archive.bundle import BatchItem, run_batch

    items = [BatchItem(p.name, p) for p in KNEES[:2]]
    result = run_batch(items, heatmap=False)
    assert result.n_failed == 0 and len(result.summaries) == 2
