"""MicroSR app: the router. Run with ``streamlit run app.py``.

Each page is a thin script in ``pages/`` that lays out widgets and calls ``microsr_core``.
"""

import streamlit as st

st.set_page_config(page_title="MicroSR", page_icon=":microscope:", layout="wide")

pages = [
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:", default=True),
    st.Page("pages/benchmarks.py", title="Benchmarks", icon=":material/leaderboard:"),
    st.Page("pages/models.py", title="Models", icon=":material/memory:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/batch.py", title="Batch", icon=":material/photo_library:"),
]
st.navigation(pages).run()
