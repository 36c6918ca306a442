"""Compare page: one image, every method side by side, a shared region of interest, metrics
against an optional HR reference, the LR-consistency check and downloads."""

import streamlit as st

from microsr_core.comparison.outcome import compute_outcome
from microsr_core.comparison.panels import build_panels
from microsr_core.models.catalog import method_catalog
from microsr_core.ui import inputs, links, running, state, verdicts, views

st.title("Compare super-resolution methods")
st.caption(
    "Upload a low-resolution micrograph (or use the sample), pick the scale and methods below and press Run. Add an HR "
    "reference of the same field to get PSNR/SSIM, or use teaching mode to make the LR from an HR image."
)

catalog = method_catalog()
state.keep_settings()
links.restore(catalog)
scale = running.scale_control(catalog)
data = inputs.input_section(scale, catalog)
settings = running.controls(catalog, scale, data.lr_kind if data else inputs.chosen_lr_kind())
if data is None:
    st.stop()

reference = views.reference_section(data, settings.scale)
roi, panel_size, um_per_px = views.roi_section(data, reference)
links.publish(data, settings, roi, panel_size)

if not settings.methods:
    st.warning("No method is selected, or none supports this scale: choose methods above.")
    st.stop()
running.run_section(data, settings, roi)
results = running.current_results(data, settings)
if not results:
    st.info("Press Run to compute the selected methods. Results are kept while you explore them.")
    st.stop()

st.header("Region of interest in every panel")
panels = build_panels(data, results, reference, settings, cache=state.derived)
under = verdicts.under_panels(data, results, settings, roi)
zoomed = views.zoom_grid(panels, roi, settings.scale, panel_size, um_per_px, under.draw)
if under.assessed is not None:
    st.caption(verdicts.VERDICT_NOTE + (" " + verdicts.MAPS_NOTE if under.show_maps else ""))

st.header("Two panels side by side")
views.pair_view(zoomed)

st.header("Results")
outcome = compute_outcome(data, results, reference, roi, settings, verdicts=under.verdicts, panels=zoomed,
                          region_maps=under.maps, cache=state.derived)
views.result_cards(outcome)
views.results_table(outcome)
if reference is not None:
    st.subheader("Against the HR reference")
    views.metrics_section(outcome)
    views.class_section(outcome)
with st.expander("Maps: LR consistency" + (", error and SSIM against the HR reference" if reference else "")):
    views.maps_section(outcome)
with st.expander("Self-ensemble ×8 (EDSR+): a method's mean over the 8 flips and rotations"):
    verdicts.self_ensemble_section(data, results, settings)

st.header("Downloads")
views.downloads(outcome)
