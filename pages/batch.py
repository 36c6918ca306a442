"""Batch page: super-resolve a folder or ZIP of images with several methods in the background.

Batch jobs run in their own processes on a Dask cluster (``microsr_core.jobs.batch``), so they
survive reruns and closed tabs; the same run from the command line is ``upscale-batch``.
"""

import streamlit as st

from microsr_core.ui import batch_widgets

st.title("Batch")
st.caption(
    "Every image × every method, in the background: leave the page and come back. Finished outputs "
    "are kept when a job is cancelled or fails, and resume skips them."
)
with st.expander("New batch job", expanded=True):
    batch_widgets.launch_form()
batch_widgets.jobs_panel()
