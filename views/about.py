"""Model card / About: what the grading model is, how well it does, and where it fails."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.grading.dataset import SPLIT_KNEES
from kneeai.grading.card import (COMPARISON_COLUMNS, OP_SIGNS, TARGETS, comparison_rows, confusion_figure, load_card_metrics, missed_targets,
                                 reliability_figure, selection_spread, val_knees)
from ui.state import lang
from ui.widgets import page_header, show_error, tr

page_header("nav.about")
language = lang()
st.markdown("### " + tr("card.intended_use_title"))
st.write(tr("card.intended_use"))
st.markdown("### " + tr("card.data_title"))
st.write(tr("card.data", train=SPLIT_KNEES["train"], val=SPLIT_KNEES["val"]))

try:
    card = load_card_metrics()
except KneeAIError as exc:
    show_error(exc)
    card = None

if card is None:
    st.warning(tr("warn.placeholder_model"), icon=":material/construction:")
else:
    v = card["val"]
    st.markdown("### " + tr("card.performance_title"))
    st.caption(tr("card.performance_caption", model_id=card["model_id"], val=val_knees(card)))
    spread = selection_spread(card.get("selection"))
    if spread:
        st.caption(tr("card.selection_spread", n=spread["n"], lo=spread["accuracy_min"], hi=spread["accuracy_max"],
                      acc=spread["accuracy"], qwk=spread["qwk"]))
    missed = missed_targets(v)
    if missed:
        listed = tr("list.separator").join(f"{tr(f'card.metric.{k}')} {OP_SIGNS[TARGETS[k][0]]} {TARGETS[k][1]}" for k in missed)
        st.warning(tr("card.targets_missed", missed=listed), icon=":material/warning:")
    cols = st.columns(4)
    for col, (k, (op, target)) in zip(cols, TARGETS.items()):
        col.metric(tr(f"card.metric.{k}"), f"{v[k]:.3f}", help=tr("card.target", op=op, target=target))
    st.markdown("#### " + tr("card.per_grade"))
    st.dataframe(pd.DataFrame({
        tr("card.grade"): [f"KL{k}" for k in range(5)],
        "n": [sum(r) for r in v["confusion"]],
        tr("card.sensitivity"): [round(x, 3) for x in v["sensitivity"]],
        tr("card.specificity"): [round(x, 3) for x in v["specificity"]],
    }), hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    c1.plotly_chart(confusion_figure(card, language), width="stretch", key="confusion")
    c2.plotly_chart(reliability_figure(card, language), width="stretch", key="reliability")
    st.caption(tr("card.calibration_caption", before=card["ece_before_calibration"], after=v["ece"], T=card["temperature"]))

st.markdown("### " + tr("card.published_title"))
st.caption(tr("card.published_caption"))
table = pd.DataFrame(comparison_rows(card, language), columns=list(COMPARISON_COLUMNS)).fillna("–")
st.dataframe(table.rename(columns=lambda c: tr(f"card.col.{c}")), hide_index=True, width="stretch")
st.markdown("### " + tr("card.failures_title"))
st.write(tr("card.failures"))
st.markdown("### " + tr("card.credits_title"))
st.write(tr("card.credits"))
