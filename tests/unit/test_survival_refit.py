"""Refit on a survival table the code has never seen (not knees), through the CLI, and its error messages."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from kneeai.__main__ import main
from kneeai.errors import InvalidSurvivalData
from kneeai.survival.refit import fit_table, guess_columns, predict_table, read_table, suggest_categorical
from kneeai.survival.simulate import simulate_pumps


@pytest.fixture()
def pumps_csv(tmp_path):
    path = tmp_path / "pumps.csv"
    simulate_pumps(1200, seed=3).to_csv(path, index=False)
    return path


def test_cli_fit_then_predict_json_on_a_never_seen_table(pumps_csv, tmp_path, capsys):
    model = tmp_path / "pump_model.json"
    assert main(["survival", "fit", str(pumps_csv), "--time", "hours", "--event", "failed", "--features", "load_kw,supplier,site",
                 "--categorical", "site", "--boot", "3", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "C-index" in out and "supplier=bolt" in out and "site=3" in out
    c = float(out.split("held-out split: ")[1].split(" ")[0])
    assert 0.6 < c < 0.9
    new = tmp_path / "new.csv"
    pd.DataFrame({"load_kw": [5.0, 12.0], "supplier": ["acme", "bolt"], "site": [1, 2]}).to_csv(new, index=False)
    assert main(["survival", "predict", str(model), str(new), "--times", "1000,3000", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [r["row"] for r in lines] == [1, 2]
    assert set(lines[0]["risk"]) == {"1000", "3000"}
    # Higher load and the weaker supplier fail sooner; risk grows with time.
    assert lines[1]["risk"]["3000"] > lines[0]["risk"]["3000"] > lines[0]["risk"]["1000"] > 0
    assert lines[0]["low"]["3000"] <= lines[0]["risk"]["3000"] <= lines[0]["high"]["3000"]
    assert lines[0]["simulated"] is False


def test_cli_deepsurv_refit_writes_json_and_tensor_file(pumps_csv, tmp_path, capsys):
    model = tmp_path / "ds.json"
    assert main(["survival", "fit", str(pumps_csv), "--time", "hours", "--event", "failed", "--features", "load_kw,supplier",
                 "--model", "deepsurv", "--boot", "1", "--out", str(model)]) == 0
    assert model.exists() and model.with_suffix(".pt").exists()
    capsys.readouterr()
    assert main(["survival", "predict", str(model), str(pumps_csv), "--times", "2000", "--json"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1200


def test_demo_model_predictions_say_simulated(tmp_path, capsys):
    from kneeai.survival.simulate import simulate

    csv = tmp_path / "c.csv"
    simulate(5, seed=1).to_csv(csv, index=False)
    assert main(["survival", "predict", "demo:cox", str(csv), "--times", "1,2,5", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5 and all(r["simulated"] for r in rows) and set(rows[0]["risk"]) == {"1", "2", "5"}
    assert main(["survival", "predict", "demo:deepsurv", str(csv), "--times", "5"]) == 0
    assert "Simulated cohort" in capsys.readouterr().out


def test_cli_simulate_writes_a_cohort(tmp_path, capsys):
    out = tmp_path / "cohort.csv"
    assert main(["survival", "simulate", "--n", "300", "--seed", "2", "--out", str(out)]) == 0
    assert "simulated cohort" in capsys.readouterr().out
    assert list(pd.read_csv(out).columns) == ["age", "sex", "bmi", "womac_pain", "kl", "time", "event"]


def test_missing_and_invalid_values_name_the_rows(capsys, tmp_path):
    df = simulate_pumps(200, seed=1)
    df.loc[[2, 9], "load_kw"] = None
    df.loc[4, "failed"] = "maybe"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    assert main(["survival", "fit", str(bad), "--time", "hours", "--event", "failed", "--features", "load_kw", "--out",
                 str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err
    assert "failed" in err and "5" in err  # the event column is checked first; row 5 is data row index 4
    df.loc[4, "failed"] = "no"
    df.to_csv(bad, index=False)
    assert main(["--lang", "zh", "survival", "fit", str(bad), "--time", "hours", "--event", "failed", "--features", "load_kw",
                 "--out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err
    assert "load_kw" in err and "3, 10" in err and "缺失" in err


def test_unseen_category_and_extrapolation_are_refused():
    df = simulate_pumps(600, seed=4)
    model = fit_table(df, time="hours", event="failed", features=["load_kw", "supplier"], n_boot=0).model
    with pytest.raises(InvalidSurvivalData) as info:
        predict_table(model, pd.DataFrame({"load_kw": [5.0, 6.0], "supplier": ["acme", "zeta"]}), [100])
    assert "zeta" in info.value.message("en") and "2" in info.value.message("en")
    with pytest.raises(InvalidSurvivalData) as info:
        predict_table(model, df.head(1), [model.max_time * 2])
    assert "extrapolation" in info.value.message("en")


def test_too_few_events_and_target_as_feature_are_refused():
    df = simulate_pumps(100, seed=5)
    df["failed"] = "no"
    df.loc[:3, "failed"] = "yes"
    with pytest.raises(InvalidSurvivalData, match="events"):
        fit_table(df, time="hours", event="failed", features=["load_kw"])
    with pytest.raises(InvalidSurvivalData):
        fit_table(simulate_pumps(200), time="hours", event="failed", features=["hours", "load_kw"])


def test_column_guesses_and_category_suggestions():
    df = simulate_pumps(50)
    assert guess_columns(df) == ("hours", "failed")
    assert suggest_categorical(df, ["load_kw", "site"]) == ["site"]


def test_semicolon_csv_is_read(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_text("t;e;x\n1;1;2.0\n2;0;3.5\n", encoding="utf-8")
    assert list(read_table(p).columns) == ["t", "e", "x"]
    with pytest.raises(InvalidSurvivalData):
        read_table(b"")
