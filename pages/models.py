"""Models page: every registered method, the weights serving each (method, scale, LR kind), and the
model card of every installed weights file."""

import pandas as pd
import streamlit as st

from microsr_core.errors import WeightsError
from microsr_core.paths import promoted_models_dir
from microsr_core.precision import TOLERANCE_DB
from microsr_core.catalog import method_catalog, serving_rows
from microsr_core.weights import read_manifest, render_card, weights_dir

st.title("Models")
st.caption("Methods come from the registry; weights and their model cards from weights/manifest.json, "
           "written by the trainer (provenance, data, budget, checksum, held-out metrics).")

catalog = method_catalog()
st.dataframe(pd.DataFrame([{
    "method": info.name, "title": info.title, "paper": info.paper,
    "scales (bicubic LR)": ", ".join(f"x{s}" for s in info.scales),
    "status": "ready" if info.available else f"not available: {info.reason}",
} for info in catalog]), hide_index=True)

st.header("Which weights serve each scale and kind of LR image")
served = serving_rows(catalog)
if served:
    st.dataframe(pd.DataFrame(served), hide_index=True, key="serving_table")
st.caption("One row per method, scale and kind of LR image: the weights that compute it (a single-scale card before a "
           f"fallback card; no switch between LR kinds). bf16 auto: the card measured bf16 within {TOLERANCE_DB} dB Y-PSNR of fp32 "
           "at that scale, so precision auto may run it in bf16; otherwise auto runs fp32.")

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
