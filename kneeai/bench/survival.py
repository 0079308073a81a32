"""Survival models: fit time at n = 5,000 and 50,000, and per-patient panel latency with intervals.

    python -m kneeai.bench survival [--sizes 5000,50000] [--max-epochs 400] [--repeats 50]

Fit rows time one point model (no bootstrap members) on a simulated cohort, with one torch
thread; a shipped ensemble costs (members + 1) times that. The latency rows time
:func:`kneeai.survival.risk.model_risk` for the shipped models: curve, 95% band from every
bootstrap member, horizon risks and Shapley contributions, for a typed grade and for a grade mixed
over five probabilities. ``ms_*`` are wall-clock milliseconds; ``cpu_ms_median`` is the thread's
CPU time, which tells the work itself apart from waiting for a core on a busy machine.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="5000,50000", help="cohort sizes to fit")
    parser.add_argument("--max-epochs", type=int, default=400, help="DeepSurv epoch limit (early stopping usually ends sooner)")
    parser.add_argument("--repeats", type=int, default=50, help="per-patient predictions to time")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kneeai.schemas import RiskInput
    from kneeai.survival.demo import CATEGORICAL, FEATURES, load_demo_models
    from kneeai.survival.ensemble import SurvivalModel
    from kneeai.survival.metrics import harrell_c
    from kneeai.survival.risk import model_risk
    from kneeai.survival.simulate import simulate

    rows: list[dict[str, Any]] = []
    test = simulate(20_000, seed=4242, truth=True)
    te, tt = test["event"].to_numpy(bool), test["time"].to_numpy()
    for n in (int(x) for x in args.sizes.split(",") if x.strip()):
        df = simulate(n, seed=n)
        for kind in ("cox", "deepsurv"):
            params = {"max_epochs": args.max_epochs} if kind == "deepsurv" else None
            started = time.perf_counter()
            m = SurvivalModel.fit(df, time="time", event="event", features=FEATURES, categorical=CATEGORICAL, kind=kind, n_boot=0,
                                  params=params, simulated=True)
            seconds = time.perf_counter() - started
            epochs = len(m.point.history_) if kind == "deepsurv" else ""
            rows.append({"task": "fit", "model": kind, "n": n, "seconds": round(seconds, 2), "epochs": epochs,
                         "c_index_heldout": round(harrell_c(te, tt, m.log_hazard(test)), 4), "ms_median": "", "ms_p95": "",
                         "cpu_ms_median": ""})
    models = load_demo_models()
    patients = {"typed KL": RiskInput(age=66, sex="F", bmi=32, womac_pain=9, kl_grade=3),
                "KL mixed over 5 probabilities": RiskInput(age=66, sex="F", bmi=32, womac_pain=9, kl_grade=3,
                                                           kl_probabilities=(0.02, 0.08, 0.25, 0.45, 0.20))}
    for label, inp in patients.items():
        for model in models:
            model_risk(inp, model)  # warm-up
            times, cpu = [], []
            for _ in range(args.repeats):
                started, started_cpu = time.perf_counter(), time.thread_time()
                model_risk(inp, model)
                times.append(1000 * (time.perf_counter() - started))
                cpu.append(1000 * (time.thread_time() - started_cpu))
            rows.append({"task": f"patient, {label}", "model": f"{model.name} + {len(model.members)} members", "n": 1,
                         "seconds": "", "epochs": "", "c_index_heldout": "", "ms_median": round(float(np.median(times)), 2),
                         "ms_p95": round(float(np.percentile(times, 95)), 2), "cpu_ms_median": round(float(np.median(cpu)), 2)})
    return {"rows": rows, "target_ms": 50, "load_average": list(_load()),
            "note": "fit rows: one point model, no bootstrap members; simulated cohort"}


def _load() -> tuple[float, ...]:
    import os

    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()
