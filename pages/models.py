"""Models page: importing a model trained elsewhere, every registered method, the weights serving
each (method, scale, LR kind), and the model card of every installed weights file."""

import pandas as pd
import streamlit as st

from microsr_core.errors import MicroSRError, WeightsError
from microsr_core.models.imports import add_upload, list_models, remove_model
from microsr_core.models.model_files import MAX_MB, SUFFIXES
from microsr_core.models.papers import cite
from microsr_core.paths import imports_dir, promoted_models_dir
from microsr_core.models.serving import TOLERANCE_DB
from microsr_core.models.catalog import SHORT_SHA, method_catalog, serving_rows
from microsr_core.models.weights import card_heading, read_manifest, render_card, weights_dir

st.title("Models")
st.caption("Methods come from the registry; weights and their model cards from weights/manifest.json, "
           "written by the trainer (provenance, data, budget, checksum, held-out metrics).")

# Before the tables, so that they show what an import or removal just changed.
with st.expander("Import a model trained elsewhere", expanded=False):
    st.caption(f"It becomes method import@NAME on every page. {', '.join(SUFFIXES[:-1])}: an architecture spandrel detects "
               f"(ESRGAN, Real-ESRGAN Compact, SwinIR, ...); .onnx: run by OpenVINO. The file is read without running any code, "
               f"at most {MAX_MB} MB; it is run once and bf16 is measured before it is added.")
    upload = st.file_uploader("Model file", type=[suffix.lstrip(".") for suffix in SUFFIXES], max_upload_size=MAX_MB,
                              key="import_file")
    name = st.text_input("Name (a-z, 0-9, _ and -)", max_chars=40, key="import_name")
    scale = st.number_input("Expected scale (optional: refused if the file's differs)", min_value=2, value=None, step=1, key="import_scale")
    replace = st.checkbox("Replace an imported model of that name", key="import_replace")
    if st.button("Import", key="import_model", disabled=upload is None or not name):
        try:
            card = add_upload(upload, upload.name, upload.size, name, scale, replace)
        except MicroSRError as exc:
            st.error(str(exc))
        else:
            st.success(f"Imported as method import@{name}: {card['summary']}")
    imported = list(list_models())
    if imported:
        removed = st.selectbox("Imported model", imported, key="remove_name")
        if st.button("Remove", key="remove_model"):
            remove_model(removed)
            st.success(f"Removed import@{removed}.")

catalog = method_catalog()
# A static table: it wraps the paper titles, where a data grid would cut them and the status column.
st.table(pd.DataFrame([{
    "method": info.name, "title": info.title, "paper": cite(info.paper),
    "scales (bicubic LR)": ", ".join(f"x{s}" for s in info.scales),
    "status": "ready" if info.available else f"not available: {info.reason}",
} for info in catalog]), hide_index=True)

st.header("Which weights serve each scale and kind of LR image")
served = serving_rows(catalog)
if served:
    st.dataframe(pd.DataFrame(served), hide_index=True, key="serving_table",
                 height="content",  # every row at once: the table is the page's answer, not a scroll box
                 column_config={"sha256": st.column_config.TextColumn(f"sha256 (first {SHORT_SHA})", width="small"),
                                "scale": st.column_config.TextColumn(width=60), "LR kind": st.column_config.TextColumn(width=70)})
st.caption("One row per method, scale and kind of LR image: the weights that compute it (a single-scale card before a "
           f"fallback card; no switch between LR kinds). bf16 auto: the card measured bf16 within {TOLERANCE_DB} dB Y-PSNR of fp32 "
           "at that scale, so precision auto may run it in bf16; otherwise auto runs fp32.")

for heading, folder in (("Shipped weights", weights_dir()), ("Models promoted from training jobs", promoted_models_dir()),
                        ("Imported models", imports_dir())):
    st.header(heading)
    try:
        cards = read_manifest(folder)
    except WeightsError as exc:
        st.error(str(exc))
        continue
    if not cards:
        st.info("None yet.")  # the folder is the server's: its path is nothing to a browser user
    for name, card in cards.items():
        with st.expander(card_heading(name, card)):
            rendered = folder / f"{name}.md"
            st.markdown(rendered.read_text() if rendered.is_file() else render_card(name, card))
