"""The shipped grader's card: its measured numbers as the About page and the model card show them.

Read from the metrics JSON that ``python -m kneeai.training.ship`` wrote next to the weights
(checked against the manifest), beside the published results of :mod:`kneeai.grading.literature`.
Writing docs/MODEL_CARD.md is :mod:`kneeai.training.card`'s job.
"""
from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go

from kneeai.config import SETTINGS
from kneeai.grading.literature import HUMAN_KAPPA_RANGE, PUBLISHED
from kneeai.i18n import t
from kneeai.palette import GUIDE

__all__ = ["METRICS_FILE", "TARGETS", "OP_SIGNS", "missed_targets", "val_knees", "load_card_metrics", "COMPARISON_COLUMNS", "comparison_rows",
           "confusion_figure", "reliability_figure", "selection_spread"]

# The card's numbers, next to the weights (kneeai.training.ship writes it).
METRICS_FILE = "kl_grader.metrics.json"

# Issue 4's targets on val.
TARGETS = {"accuracy": (">=", 0.72), "qwk": (">=", 0.89), "mae": ("<=", 0.32), "ece": ("<=", 0.05)}
OP_SIGNS = {">=": "≥", "<=": "≤"}


def missed_targets(val: dict) -> list[str]:
    """The TARGETS metrics that ``val`` misses, in TARGETS order."""
    return [k for k, (op, target) in TARGETS.items() if not (val[k] >= target if op == ">=" else val[k] <= target)]


def val_knees(card: dict) -> int:
    """How many val knees the card's numbers were measured on (its confusion matrix's total)."""
    return int(sum(map(sum, card["val"]["confusion"])))


def load_card_metrics(weights_dir: Path | None = None) -> dict | None:
    from kneeai.manifest import verified_path

    wdir = weights_dir or SETTINGS.weights_dir
    if not (wdir / METRICS_FILE).exists():
        return None
    path, _ = verified_path(METRICS_FILE, wdir)
    return json.loads(path.read_text())


COMPARISON_COLUMNS = ("study", "model", "data", "accuracy", "kappa", "mae", "note")


def comparison_rows(card: dict | None, lang: str = "en") -> list[dict]:
    """The published results, human readers and this model, one dict per row keyed by
    :data:`COMPARISON_COLUMNS`. Our own rows are worded in ``lang``; the studies' names and notes
    stay as published."""
    rows = [{"study": p.study, "model": p.model, "data": p.data, "accuracy": p.accuracy, "kappa": p.kappa,
             "mae": p.mae, "note": p.note} for p in PUBLISHED]
    rows.append({"study": t("card.row.readers", lang), "model": "—", "data": t("card.row.literature", lang), "accuracy": None,
                 "kappa": f"{HUMAN_KAPPA_RANGE[0]}–{HUMAN_KAPPA_RANGE[1]}", "mae": None,
                 "note": t("card.row.readers_note", lang)})
    if card:
        v = card["val"]
        rows.append({"study": t("card.row.this_model", lang), "model": card["architecture"],
                     "data": t("card.row.val_data", lang, n=val_knees(card)),
                     "accuracy": round(v["accuracy"], 3), "kappa": round(v["qwk"], 3), "mae": round(v["mae"], 3),
                     "note": t("card.row.val_note", lang)})
    return rows


def confusion_figure(card: dict, lang: str) -> go.Figure:
    cm = card["val"]["confusion"]
    labels = [t("grade.kl_label", lang, grade=k) for k in range(5)]
    fig = go.Figure(go.Heatmap(z=cm, x=labels, y=labels, colorscale="Blues", text=cm, texttemplate="%{text}", showscale=False))
    fig.update_layout(title=t("card.confusion", lang), xaxis_title=t("card.predicted", lang), yaxis_title=t("card.reference", lang),
                      yaxis=dict(autorange="reversed"), height=380, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def reliability_figure(card: dict, lang: str) -> go.Figure:
    bins = [b for b in card["reliability"] if b["n"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color=GUIDE), name=t("card.perfect", lang)))
    fig.add_trace(go.Scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="lines+markers",
                             marker=dict(size=[6 + b["n"] ** 0.5 for b in bins]), name=t("card.model", lang)))
    fig.update_layout(title=t("card.reliability", lang), xaxis_title=t("card.confidence", lang), yaxis_title=t("card.observed", lang),
                      height=380, margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1]))
    return fig


def selection_spread(sel: dict | None) -> dict | None:
    """How the val candidates scored, for the model that was picked as the best of them.

    The best of several candidates on val flatters itself; their mean is a conservative guess for
    new knees from the same source. None when there was no choice (fewer than two candidates).
    """
    if not sel or len(sel["candidates"]) < 2:
        return None
    singles = [r["single"] for r in sel["candidates"]]
    acc = [m["accuracy"] for m in singles]
    return {"n": len(singles), "accuracy_min": min(acc), "accuracy_max": max(acc),
            **{k: sum(m[k] for m in singles) / len(singles) for k in ("accuracy", "qwk", "mae")}}
