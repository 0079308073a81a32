"""``python -m kneeai survival <action>``: the simulated cohort, the TKR models, and refits on any table.

    simulate   --n N --seed S --out cohort.csv [--truth]     draw a simulated knee cohort
    risk       --age A --sex F|M --bmi B --pain P --kl K [--kl-probs p0,...,p4] [--what-if-bmi X] [--what-if-pain Y] [--json]
    fit        CSV --time COL --event COL --features a,b,c [--categorical c] [--model cox|deepsurv] --out MODEL.json
    predict    MODEL CSV --times 1,2,5 [--json]               MODEL may be demo:cox or demo:deepsurv
    build-demo                                               refit and ship the demo models (weights/)
    validate                                                 recompute weights/survival_validation.json

Everything the demo models say is marked "simulated cohort". ``predict --json`` writes one object
per row: ``{"row", "risk": {"1": p, ...}, "low", "high", "simulated"}``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kneeai.errors import InvalidSurvivalData
from kneeai.i18n import t

__all__ = ["add_parser", "run"]


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("survival", help="simulated cohort, TKR risk models, refit on your own survival table",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    acts = p.add_subparsers(dest="action", required=True)

    s = acts.add_parser("simulate", help="draw a simulated knee cohort as CSV")
    s.add_argument("--n", type=int, default=5000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--truth", action="store_true", help="add the simulator's true log hazard and 5-year risk")

    r = acts.add_parser("risk", help="TKR risk panel for one patient (demo models, simulated cohort)")
    r.add_argument("--age", required=True)
    r.add_argument("--sex", required=True, help="F or M")
    r.add_argument("--bmi", required=True)
    r.add_argument("--pain", required=True, help="WOMAC pain, 0-20")
    r.add_argument("--kl", default=None, help="KL grade 0-4 (typed)")
    r.add_argument("--kl-probs", type=_floats, default=None, help="five KL grade probabilities to mix over")
    r.add_argument("--what-if-bmi", type=float, default=None)
    r.add_argument("--what-if-pain", type=float, default=None)
    r.add_argument("--json", action="store_true")

    f = acts.add_parser("fit", help="fit Cox or DeepSurv on a right-censored CSV")
    f.add_argument("csv", type=Path)
    f.add_argument("--time", required=True, help="follow-up time column (> 0)")
    f.add_argument("--event", required=True, help="event column (1/0, true/false, yes/no)")
    f.add_argument("--features", type=_names, required=True, help="comma-separated feature columns")
    f.add_argument("--categorical", type=_names, default=[], help="numeric-looking columns to treat as categories")
    f.add_argument("--model", choices=("cox", "deepsurv"), default="cox")
    f.add_argument("--boot", type=int, default=None, help="bootstrap members for the 95%% interval (default 20 Cox, 5 DeepSurv)")
    f.add_argument("--holdout", type=float, default=0.2, help="share of rows held out for the C-index")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--time-unit", default="", help="e.g. years or months, shown with predictions")
    f.add_argument("--out", type=Path, required=True, help="model file (.json; DeepSurv also writes .pt next to it)")

    pr = acts.add_parser("predict", help="cumulative event risk per row of a CSV")
    pr.add_argument("model", help="a model file from 'fit', or demo:cox / demo:deepsurv")
    pr.add_argument("csv", type=Path)
    pr.add_argument("--times", type=_floats, required=True, help="comma-separated times, in the model's time unit")
    pr.add_argument("--json", action="store_true")

    b = acts.add_parser("build-demo", help="refit the shipped demo models on the simulated cohort (a few minutes)")
    b.add_argument("--weights", type=Path, default=None)
    v = acts.add_parser("validate", help="recompute the validation page's numbers")
    v.add_argument("--weights", type=Path, default=None)
    return p


def run(args: argparse.Namespace) -> int:
    return {"simulate": _simulate, "risk": _risk, "fit": _fit, "predict": _predict, "build-demo": _build,
            "validate": _validate}[args.action](args)


def _simulate(args: argparse.Namespace) -> int:
    from kneeai.survival.simulate import simulate

    if args.n < 1:
        raise InvalidSurvivalData(key="refit.err.bad_n", n=args.n)
    df = simulate(args.n, args.seed, truth=args.truth)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(t("risk.cli.simulated", args.lang, n=len(df), path=str(args.out), events=int(df["event"].sum()),
            pct=f"{100 * df['event'].mean():.1f}", seed=args.seed))
    return 0


def _risk(args: argparse.Namespace) -> int:
    from kneeai.survival.risk import assess, format_risk, model_label, risk_input_from_fields, what_if, what_if_sentences

    inp = risk_input_from_fields({"age": args.age, "sex": args.sex, "bmi": args.bmi, "womac_pain": args.pain, "kl_grade": args.kl},
                                 kl_probabilities=args.kl_probs)
    result = assess(inp)
    sentences: list[str] = []
    if args.what_if_bmi is not None or args.what_if_pain is not None:
        changed = assess(what_if(inp, bmi=args.what_if_bmi, womac_pain=args.what_if_pain))
        sentences = what_if_sentences(result, changed, args.lang)
    if args.json:
        print(json.dumps({"simulated": result.simulated, "inputs": {"age": inp.age, "sex": inp.sex, "bmi": inp.bmi,
                                                                       "womac_pain": inp.womac_pain, "kl_grade": inp.kl_grade,
                                                                       "kl_probabilities": inp.kl_probabilities},
                          "models": [{"model": m.model_name, "model_id": m.model_id, "sha256": m.sha256, "simulated": m.simulated,
                                      "risk": {f"{h:g}": list(v) for h, v in m.risk_at.items()},
                                      "contributions": m.contributions} for m in result.models],
                          "what_if": sentences}, ensure_ascii=False))
        return 0
    lang = args.lang
    print(t("risk.cli.heading", lang))
    horizons = list(result.models[0].risk_at)
    width = max(len(model_label(m.model_name, lang)) for m in result.models) + 2
    print(" " * width + "".join(f"{t('risk.years_short', lang, years=f'{h:g}'):>22}" for h in horizons))
    for m in result.models:
        cells = [f"{format_risk(p)} ({format_risk(lo)}–{format_risk(hi)})" for p, lo, hi in m.risk_at.values()]
        print(f"{model_label(m.model_name, lang):{width}}" + "".join(f"{c:>22}" for c in cells))
    print(t("risk.cli.contributions", lang))
    for m in result.models:
        parts = ", ".join(f"{t(f'clinical.field.{k}', lang)} {v:+.2f}" for k, v in m.contributions.items())
        print(f"  {model_label(m.model_name, lang)}: {parts}")
    for s in sentences:
        print(s)
    print(t("risk.whatif.caveat", lang))
    return 0


def _fit(args: argparse.Namespace) -> int:
    from kneeai.survival.refit import fit_table, read_table

    df = read_table(args.csv)
    report = fit_table(df, time=args.time, event=args.event, features=args.features, kind=args.model, categorical=args.categorical,
                       n_boot=args.boot, holdout=args.holdout, seed=args.seed, time_unit=args.time_unit)
    written = report.model.save(args.out)
    print(t("refit.cli.fitted", args.lang, model=args.model, rows=report.n_train, events=report.events_train,
            columns=", ".join(report.model.encoder.columns)))
    print(t("refit.cli.c_index", args.lang, c=f"{report.c_index_holdout:.3f}", rows=report.n_holdout, events=report.events_holdout))
    print(t("refit.cli.written", args.lang, paths=", ".join(str(p) for p in written)))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from kneeai.survival.refit import load_model, predict_table, read_table

    model = load_model(args.model)
    records = predict_table(model, read_table(args.csv), args.times)
    if args.json:
        for r in records:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    unit = model.meta.get("time_unit") or ""
    if model.simulated:
        print(t("risk.simulated_banner", args.lang))
    labels = list(records[0]["risk"]) if records else []
    print(f"{t('refit.cli.row', args.lang):>6}" + "".join(f"{(lab + ' ' + unit).strip():>12}" for lab in labels))
    for r in records:
        print(f"{r['row']:>6}" + "".join(f"{100 * r['risk'][lab]:>11.1f}%" for lab in labels))
    sys.stdout.flush()
    return 0


def _build(args: argparse.Namespace) -> int:
    from kneeai.survival.demo import PLAN, train_demo

    models = train_demo(args.weights)
    for kind, m in models.items():
        print(t("risk.cli.built", args.lang, model=kind, members=len(m.members), rows=PLAN.train_n,
                seconds=m.meta.get("fit_seconds", 0)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from kneeai.survival.risk import model_label
    from kneeai.survival.validation import write_validation

    v = write_validation(args.weights)
    print(t("risk.validation.heading_cli", args.lang, rows=v["cohort"]["test_rows"], events=v["cohort"]["test_events"]))
    cols = ["harrell_c", "uno_c", "auc_2y", "auc_5y", "ibs", "cal_slope_5y"]
    width = max(len(model_label(r["model"], args.lang)) for r in v["rows"]) + 2
    print(" " * width + "".join(f"{c:>13}" for c in cols))
    for r in v["rows"]:
        print(f"{model_label(r['model'], args.lang):{width}}" + "".join(f"{r[c]:>13.4f}" for c in cols))
    print(json.dumps(v["done_when"]))
    return 0
