"""Benchmarks page: the written-up results (docs/results.md) and every `evaluate --json` report."""

import pandas as pd
import plotly.express as px
import streamlit as st

from microsr_core.reports import find_reports

st.title("Benchmarks")
st.caption(
    "Figures produced by `python -m microsr_core evaluate --json FILE` and the write-up in docs/results.md. "
    "Every table names how its LR images were made and how PSNR/SSIM were measured."
)

reports = find_reports()
if not reports.evaluate and reports.results_md is None:
    st.info(
        "No benchmark results yet: docs/results.md does not exist and no evaluate report (JSON) was found under "
        "docs/ or bench/. Run for example `python -m microsr_core evaluate --hr DATA --scale 4 "
        "--methods bicubic,vdsr --json docs/eval_x4.json` to add one."
    )

for report in reports.evaluate:
    st.subheader(f"{report.path}  (x{report.scale})")
    frame = pd.DataFrame(report.rows).set_index("method")
    st.dataframe(frame, column_config={
        "psnr_y": st.column_config.NumberColumn("PSNR-Y (dB)", format="%.3f"),
        "ssim_y": st.column_config.NumberColumn("SSIM-Y", format="%.4f"),
        "seconds_per_image": st.column_config.NumberColumn("s / image", format="%.3f"),
    })
    st.caption(f"LR: {report.lr or 'not recorded'}. Metrics: {report.convention or 'convention not recorded'}.")
    left, right = st.columns(2)
    left.plotly_chart(px.bar(frame.reset_index(), x="method", y="psnr_y", title="PSNR-Y (dB)", height=300),
                      key=f"psnr_{report.path}")
    right.plotly_chart(px.bar(frame.reset_index(), x="method", y="seconds_per_image", title="seconds per image",
                              height=300), key=f"speed_{report.path}")

if reports.skipped:
    with st.expander(f"{len(reports.skipped)} JSON file(s) that are not evaluate reports"):
        for line in reports.skipped:
            st.text(line)

st.header("docs/results.md")
if reports.results_md is not None:
    st.markdown(reports.results_md.read_text())
else:
    st.info("docs/results.md has not been written yet.")
