"""TKR model validation: the demo models on held-out simulated knees, next to the true risk and published figures."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.manifest import load_manifest
from kneeai.survival.charts import calibration_figure
from kneeai.survival.demo import DEMO_FILES
from kneeai.survival.literature import PUBLISHED_TKR
from kneeai.survival.risk import model_label
from kneeai.survival.validation import load_validation
from ui.state import lang
from ui.widgets import page_header, show_error, tr

page_header("nav.risk_validation")
language = lang()
st.warning(tr("risk.simulated_banner"), icon=":material/science:")

try:
    v = load_validation()
except KneeAIError as exc:
    show_error(exc)
    st.stop()

manifest = load_manifest()
if any(manifest.get(DEMO_FILES[name], {}).get("sha256") != info["sha256"] for name, info in v["models"].items()):
    st.warning(tr("risk.validation.stale"), icon=":material/warning:")

st.write(tr("risk.validation.intro", rows=v["cohort"]["test_rows"], events=v["cohort"]["test_events"]))

st.subheader(tr("risk.validation.metrics_title"))
columns = ["harrell_c", "uno_c", "auc_2y", "auc_5y", "ibs", "cal_slope_5y", "predicted_5y", "observed_5y"]
percent = {"predicted_5y", "observed_5y"}
st.dataframe(pd.DataFrame([{tr("risk.col.model"): model_label(r["model"], language),
                            **{tr(f"risk.validation.col.{c}"): (f"{100 * r[c]:.1f}%" if c in percent else f"{r[c]:.3f}") for c in columns}}
                           for r in v["rows"]]), hide_index=True, width="stretch")
st.caption(tr("risk.validation.metrics_caption", tau=f"{v['uno_tau']:g}"))

st.subheader(tr("risk.validation.done_title"))
by = {r["model"]: r for r in v["rows"]}
done = v["done_when"]


def _mark(ok: bool) -> str:
    # Material icons ship with Streamlit; emoji need a font the browser may not have.
    return (":green[:material/check_circle:] " if ok else ":red[:material/cancel:] ") + tr("risk.validation.pass" if ok else "risk.validation.fail")


st.markdown("- " + tr("risk.validation.check_c", ds=f"{by['deepsurv']['harrell_c']:.3f}", true=f"{by['true_risk']['harrell_c']:.3f}",
                      diff=f"{done['deepsurv_minus_true_c']:+.4f}") + " " + _mark(done["deepsurv_within_0_01_of_true"]))
st.markdown("- " + tr("risk.validation.check_slopes", cox=f"{by['cox']['cal_slope_5y']:.2f}", ds=f"{by['deepsurv']['cal_slope_5y']:.2f}")
            + " " + _mark(all(done["slopes_within_0_9_1_1"].values())))
st.markdown("- " + tr("risk.validation.check_cox", cox=f"{by['cox']['harrell_c']:.3f}", lag=f"{done['cox_minus_true_c']:+.4f}"))

st.plotly_chart(calibration_figure(v, language), width="stretch", key="risk_calibration")

st.subheader(tr("risk.validation.subgroups_title"))
st.dataframe(pd.DataFrame([{tr("risk.validation.col.group"): tr(f"risk.validation.group.{g['group']}"),
                            tr("risk.validation.col.n"): g["n"], tr("risk.validation.col.events"): g["events_5y"],
                            tr("risk.validation.col.observed"): f"{100 * g['observed']:.1f}%",
                            **{model_label(m, language): f"{100 * g[m]:.1f}%" for m in ("true_risk", "cox", "deepsurv", "kl_only")}}
                           for g in v["subgroups"]]), hide_index=True, width="stretch")
st.caption(tr("risk.validation.subgroups_caption"))

st.subheader(tr("risk.validation.published_title"))
st.caption(tr("risk.validation.published_caption"))
st.dataframe(pd.DataFrame([{tr("risk.validation.col.study"): p.study, tr("risk.col.model"): p.model, tr("risk.validation.col.data"): p.data,
                            tr("risk.validation.col.metric"): p.metric, tr("risk.validation.col.value"): p.value,
                            tr("risk.validation.col.source"): tr("risk.validation.verified_yes" if p.verified else "risk.validation.verified_no")}
                           for p in PUBLISHED_TKR]), hide_index=True, width="stretch")
st.caption(tr("risk.validation.regenerate", generated=v["generated"], seconds=v["seconds"]))
