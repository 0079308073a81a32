"""Batch: grade and risk-score many images at once; a table and a ZIP of PDF summaries."""
from __future__ import annotations

import io
from datetime import date

import pandas as pd
import streamlit as st

from kneeai.errors import KneeAIError
from kneeai.i18n import LANGUAGE_NAMES, LANGUAGES
from kneeai.archive.bundle import BatchItem, read_clinical_csv, run_batch
from kneeai.store import trail
from ui.auth import audit_user
from ui.state import get, lang, put
from ui.widgets import page_header, show_error, tr

page_header("nav.batch")
st.caption(tr("batch.help"))
images = st.file_uploader(tr("batch.images"), accept_multiple_files=True, key="batch_images")
table = st.file_uploader(tr("batch.clinical"), type=["csv"], key="batch_csv", help=tr("batch.clinical_help"))
c1, c2, c3 = st.columns(3)
language = c1.selectbox(tr("export.language"), LANGUAGES, index=LANGUAGES.index(lang()), format_func=LANGUAGE_NAMES.get, key="batch_lang")
heatmaps = c2.checkbox(tr("batch.heatmaps"), value=False, key="batch_heatmaps")
names = c3.checkbox(tr("batch.file_names"), value=False, key="batch_file_names", help=tr("batch.file_names_help"))
burned_ok = st.checkbox(tr("batch.confirm_burned_in"), value=False, key="batch_burned_in_ok", help=tr("batch.confirm_burned_in_help"))
if st.button(tr("batch.run"), type="primary", key="batch_run", disabled=not images):
    try:
        clinical = read_clinical_csv(table.getvalue().decode("utf-8")) if table is not None else None
        bar = st.progress(0.0, text=tr("batch.progress", done=0, total=len(images)))
        result = run_batch([BatchItem(f.name, f.getvalue()) for f in images], clinical, lang=language, include_file_names=names,
                           heatmap=heatmaps, progress=lambda d, n: bar.progress(d / n, text=tr("batch.progress", done=d, total=n)),
                           confirm_burned_in=burned_ok)
        put("batch_result", result)
    except KneeAIError as exc:
        show_error(exc)
result = get("batch_result")
if result is not None:
    st.success(tr("batch.done", n=len(result.summaries), failed=result.n_failed))
    st.dataframe(pd.read_csv(io.StringIO(result.csv_text)), hide_index=True, width="stretch")
    stamp = date.today().isoformat()
    c1, c2 = st.columns(2)
    c1.download_button(tr("batch.download_csv"), result.csv_text.encode("utf-8"), f"kneeai_batch_{stamp}.csv", "text/csv", key="batch_dl_csv",
                       on_click=trail.record_export, args=("csv", result.csv_text.encode("utf-8")), kwargs={"subject": "batch", "user": audit_user()})
    c2.download_button(tr("batch.download_zip"), result.zip_bytes, f"kneeai_batch_{stamp}_pdfs.zip", "application/zip", key="batch_dl_zip",
                       on_click=trail.record_export, args=("zip", result.zip_bytes), kwargs={"subject": "batch", "user": audit_user()})
