"""Models page: every registered method, and the model card of every installed weights file."""

import pandas as pd
import streamlit as st

from microsr_core.errors import WeightsError
from microsr_core.paths import promoted_models_dir
from microsr_core.catalog import method_catalog
from microsr_core.weights import read_manifest, render_card, weights_dir

st.title("Models")
st.caption("Methods come from the registry; weights and their model cards from weights/manifest.json, "
           "written by the trainer (provenance, data, budget, checksum, held-out metrics).")

catalog = method_catalog()
st.dataframe(pd.DataFrame([{
    "method": info.name, "title": info.title, "paper": info.paper,
    "scales": ", ".join(f"x{s}" for s in info.scales),
    "status": "ready" if info.available else f"not available: {info.reason}",
} for info in catalog]), hide_index=True)

for heading, folder in (("Shipped weights", weights_dir()), ("Models promoted from training jobs", promoted_models_dir())):
    st.header(heading)
    try:
        cards = read_manifest(folder)
    except WeightsError as exc:
        st.error(str(exc))
        continue
    if not cards:
        st.info(f"None in {folder} yet.")
    for name, card in cards.items():
        with st.expander(f"{name}: {card.get('summary', card.get('architecture', ''))}"):
            rendered = folder / f"{name}.md"
            st.markdown(rendered.read_text() if rendered.is_file() else render_card(name, card))
