"""Benchmarks page: one leaderboard of every `evaluate --json` report (method × test set × scale,
with the gain over bicubic on the same images), the newest speed run and docs/results.md."""

import pandas as pd
import plotly.express as px
import streamlit as st

from microsr_core.models.catalog import method_catalog, served_entries
from microsr_core.comparison.compare import BASELINE
from microsr_core.comparison.display import BASELINE_COLOUR, method_colours
from microsr_core.comparison.reports import find_reports, latest_speed_run, leaderboard, mark_served

st.title("Benchmarks")
st.caption(
    "Quality from `python -m microsr_core evaluate --json FILE`, speed from `python bench/run.py` (docs/benchmarks.md), "
    "and the write-up in docs/results.md. Every table names how its LR images were made and how PSNR/SSIM were measured."
)

reports = find_reports()
rows = leaderboard(reports.evaluate)
if not rows and reports.results_md is None:
    st.info(
        "No benchmark results yet: docs/results.md does not exist and no evaluate report (JSON) was found under "
        "docs/ or bench/. Run for example `python -m microsr_core evaluate --hr DATA --scale 4 "
        "--methods bicubic,vdsr --json docs/eval_x4.json` to add one."
    )

if rows:
    board = pd.DataFrame(mark_served(rows, served_entries(method_catalog())))
    left, middle, right = st.columns(3)
    sets = left.multiselect("Test sets", sorted(board["test_set"].unique()), default=sorted(board["test_set"].unique()), key="bench_sets")
    scales = middle.multiselect("Scales", sorted(board["scale"].unique()), default=sorted(board["scale"].unique()),
                                format_func=lambda s: f"x{s}", key="bench_scales")
    families = right.multiselect("LR", sorted(board["lr_family"].unique()), default=sorted(board["lr_family"].unique()),
                                 key="bench_lr", help="bicubic: MATLAB-bicubic LR; real: a simulated microscope capture "
                                 "(optics blur, noise, JPEG); blur: the x1 deblurring task")
    in_compare = st.toggle("Only the weights the Compare page runs today", value=True, key="bench_in_compare",
                           help="Off: also earlier models, ablations and the bicubic-LR weights measured on captures")
    shown = board[board["test_set"].isin(sets) & board["scale"].isin(scales) & board["lr_family"].isin(families)
                  & (board["in_compare"] | (not in_compare))]
    st.subheader("Leaderboard")
    st.dataframe(shown[["method", "weights_entry", "in_compare", "test_set", "lr_family", "scale", "psnr_y", "ssim_y", "gain_db", "gain_ssim",
                        "seconds_per_image", "n", "precision", "report"]], hide_index=True, column_config={
        "weights_entry": "weights", "in_compare": st.column_config.CheckboxColumn("Compare runs it"), "test_set": "test set",
        "lr_family": "LR", "scale": st.column_config.NumberColumn("scale", format="x%d"),
        "psnr_y": st.column_config.NumberColumn("Y-PSNR (dB)", format="%.3f"),
        "ssim_y": st.column_config.NumberColumn("Y-SSIM", format="%.4f"),
        "gain_db": st.column_config.NumberColumn("gain over bicubic (dB)", format="%+.3f"),
        "gain_ssim": st.column_config.NumberColumn("SSIM gain over bicubic", format="%+.4f"),
        "seconds_per_image": st.column_config.NumberColumn("s / image", format="%.3f"),
        "n": "images",
    })
    for lr, convention in sorted(set(zip(shown["lr"], shown["convention"]))):
        st.caption(f"LR: {lr or 'not recorded'}. Metrics: {convention or 'convention not recorded'}.")
    st.caption("Command of each row: `python -m microsr_core evaluate --hr DATA --split SPLIT --scale S --methods bicubic,METHOD "
               "--json REPORT` (the data folder and split of each test set: docs/results.md). Gain: minus bicubic on the same "
               "images. Precision: as recorded in the report, else fp32 (evaluate runs every method without autocast). "
               "s / image: wall clock on the machine that wrote the report.")

if rows:
    gains = shown[shown["method"] != BASELINE].assign(
        where=lambda f: f["test_set"] + " x" + f["scale"].astype(str) + " " + f["lr_family"] + " LR")
    if not gains.empty:
        figure = px.bar(gains, x="where", y="gain_db", color="method", barmode="group",
                        color_discrete_map=method_colours(sorted(board["method"].unique())),
                        labels={"where": "test set, scale and LR", "gain_db": "Y-PSNR gain over bicubic (dB)"},
                        title="Gain over bicubic on the same images (dB; 0 = bicubic)", height=520)
        figure.add_hline(y=0, line_color=BASELINE_COLOUR, line_width=1)
        # Below the plot, wrapping: a legend beside it was cut off after nine methods.
        figure.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, x=0, title_text="method"))
        st.plotly_chart(figure, key="gains")

speed = latest_speed_run()
st.subheader("Speed (docs/benchmarks.md, newest run)")
if speed is None:
    st.info("docs/benchmarks.md has no speed run yet: `python bench/run.py` writes one.")
else:
    st.dataframe(pd.DataFrame(speed.rows), hide_index=True, key="speed_table")
    st.caption(f"{speed.title}; machine: {speed.machine}; command: `{speed.command}`. The networks run with the weights "
               "the Compare page serves for bicubic LR at each scale (Models page).")

if reports.skipped:
    with st.expander(f"{len(reports.skipped)} JSON file(s) that are not evaluate reports"):
        for line in reports.skipped:
            st.text(line)

st.header("docs/results.md")
if reports.results_md is not None:
    st.markdown(reports.results_md.read_text())
else:
    st.info("docs/results.md has not been written yet.")
