"""Train page: launch background training jobs, watch them live, cancel, resume and promote.

Jobs run in their own processes (``microsr_core.jobs``), so they survive reruns, closed tabs
and app restarts; the same jobs are visible from ``python -m microsr_core jobs list``.
"""

import streamlit as st

from microsr_core.ui import train_widgets

st.title("Train")
st.caption(
    "Training runs in the background: leave the page and come back later. A finished model can be "
    "promoted to a method on the Compare page, with its model card."
)
with st.expander("New training job", expanded=True):
    train_widgets.launch_form()
train_widgets.jobs_panel()
