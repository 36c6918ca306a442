"""What the comparison page shows once there are results: the overview with the region of
interest and the pixel size, the zoom grid with scale bars, the before/after view, metrics and
their gains over bicubic, maps, the LR-consistency check, downloads and the HTML report.

These views only draw: the HR reference's match is :func:`~microsr_core.comparison.outcome.matched_reference`,
the zoom panels (crops, zoom, scale bars) are :mod:`microsr_core.comparison.panels`, what they show of the
results is measured in an :class:`~microsr_core.comparison.outcome.Outcome` (:func:`~microsr_core.comparison.outcome.compute_outcome`),
and the ZIP and the report are built from it (:mod:`microsr_core.comparison.downloads`,
:mod:`microsr_core.comparison.html_report`); each table carries its convention in a caption.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st
from plotly.subplots import make_subplots

from ..comparison import compare, display
from ..comparison.compare import Reference
from ..comparison.downloads import archive
from ..comparison.html_report import report_html
from ..comparison.inputs import Inputs
from ..comparison.outcome import CLASS_DIGITS, GAIN_CHARTS, GAINS_CAPTION, MAP_SIDE, MAPS_CAPTION, Outcome, Zoomed, matched_reference
from ..comparison.panels import Panel, zoomed_panels
from ..imaging.io import encode_image, to_uint
from ..imaging.metrics import STAIN_CONVENTION, convention
from ..imaging.segment import AGREEMENT_CONVENTION
from ..imaging.parsing import OVERLAY_LEGEND
from ..imaging.roi import Roi, default_roi, region_in_um, roi_from_box
from ..comparison.share import PANEL_SIZES
from . import state
from .overview import overview_figure, selected_box


#: Beside the panels: what a super-resolved image is not.
NOT_FOR_DIAGNOSIS = ("Super-resolved images are not for diagnosis: a learned method can invent detail that is not in "
                     "the sample (PSNR/SSIM need an HR reference; LR-consistency alone cannot show invented detail that "
                     "still downsamples to the LR).")


def _show(image: np.ndarray, caption: str | None = None, container=st, width: int | str = "content") -> None:
    """``width=image.shape[1]``: at its own pixel size (no resampling by the browser; see ``PIXEL_EXACT_CSS``)."""
    container.image(to_uint(image, 8), caption=caption, output_format="PNG",  # JPEG would blur honest pixels
                    width=width)


#: The zoom panels keep their pixel size: each column as wide as its image, the row wrapping
#: when they do not fit (a column narrower than its image would let the browser resample the
#: nearest-neighbour enlargement: 512-px panels showed 303 px wide).
PIXEL_EXACT_CSS = """<style>
.st-key-zoom_grid [data-testid="stHorizontalBlock"] {flex-wrap: wrap; gap: 1rem;}
.st-key-zoom_grid [data-testid="stColumn"] {flex: 0 0 auto !important; width: auto !important; min-width: 0 !important;}
.st-key-zoom_grid img {max-width: none !important; image-rendering: pixelated;}
</style>"""


def swatch(title: str, colour: str | None) -> str:
    """Markdown (HTML allowed) naming a method in its colour, as its bars and legend entry are."""
    return f'<span style="color:{colour}">&#9632;</span> **{title}**' if colour else f"**{title}**"


def reference_section(inputs: Inputs, scale: int) -> Reference | None:
    """Report how the HR reference matched the LR image (:func:`~microsr_core.comparison.outcome.matched_reference`), or why not."""
    found = matched_reference(inputs, scale, state.derived)
    if found is None:
        return None
    if isinstance(found, str):
        st.error(f"HR reference {inputs.reference_name}: {found}. Metrics against it are not shown.")
        return None
    if found.reliable:
        st.success(found.describe())
    else:
        st.warning(found.describe() + ". The reference may show a different place: treat its metrics with care.")
    for note in found.notes:
        st.caption(note)
    return found


def _set_roi(roi: Roi) -> None:
    st.session_state[state.ROI_ROW], st.session_state[state.ROI_COL] = roi.row, roi.col
    st.session_state[state.ROI_HEIGHT], st.session_state[state.ROI_WIDTH] = roi.height, roi.width
    st.session_state[state.ROI_SAVED] = roi


def roi_section(inputs: Inputs, reference: Reference | None) -> tuple[Roi, int, float | None]:
    """Overview with the region of interest (drag a box, or type coordinates) and the pixel size;
    returns ``(roi, panel size, µm per LR px or None)``. The ROI lives in session state, so it
    survives reruns."""
    shape = inputs.lr.shape
    seen = st.session_state.get(state.ROI_IMAGE)
    if seen != (inputs.key, shape, inputs.source_key):
        st.session_state[state.ROI_IMAGE] = (inputs.key, shape, inputs.source_key)
        shared = st.session_state.pop(state.ROI_SHARED, None)
        if shared is None and seen is not None and seen[2] == inputs.source_key and state.ROI_SAVED in st.session_state:
            # The same field made into another LR (teaching mode toggled, another scale): the same place.
            shared = st.session_state[state.ROI_SAVED].rescaled(seen[1], shape)
        _set_roi(shared or default_roi(inputs.lr, 48))
    elif any(key not in st.session_state for key in state.ROI_KEYS):
        _set_roi(st.session_state[state.ROI_SAVED])
    box = selected_box(st.session_state.get("overview"))
    if box is not None and box != st.session_state.get(state.ROI_BOX_SEEN):
        st.session_state[state.ROI_BOX_SEEN] = box
        _set_roi(roi_from_box(box[0], box[1], shape))
    roi = Roi(*(int(st.session_state[k]) for k in state.ROI_KEYS))
    roi = roi.clamp(shape)
    _set_roi(roi)
    window = reference.window if reference is not None and reference.mode == "aligned" else None
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(overview_figure(*display.shrink_for_display(inputs.lr, 768), inputs.lr.shape, roi, window), key="overview", on_select="rerun",
                        selection_mode="box", config={"displaylogo": False, "scrollZoom": False})
        st.caption("Drag a box on the LR overview to choose the region of interest (yellow)"
                   + (f"; the dashed cyan outline is where the HR reference matched: {window.describe()}." if window else "."))
    with right:
        st.subheader("Region of interest")
        a, b = st.columns(2)
        a.number_input("Row (LR px)", 0, shape[0] - 1, key=state.ROI_ROW)
        b.number_input("Column (LR px)", 0, shape[1] - 1, key=state.ROI_COL)
        a.number_input("Height (LR px)", 1, shape[0], key=state.ROI_HEIGHT)
        b.number_input("Width (LR px)", 1, shape[1], key=state.ROI_WIDTH)
        size = st.select_slider("Panel size (px)", PANEL_SIZES, value=320, key="panel_size")
        default, source = inputs.pixel_size()
        um_per_px = st.number_input("Pixel size (µm per LR px)", min_value=0.0001, value=default, step=0.01, format="%.4f",
                                    placeholder="unknown", key=f"um_per_px_{inputs.key}")
        st.caption(f"Pixel size: {source}." if um_per_px == default else "Pixel size: as entered.")
        if um_per_px is not None:
            st.caption(f"Region: {region_in_um(roi, um_per_px)}.")
    return roi, int(size), um_per_px


def zoom_grid(panels: list[Panel], roi: Roi, scale: int, size: int, um_per_px: float | None,
              beneath: Callable[[Any, Panel, int], None] | None = None) -> dict[str, Zoomed]:
    """Every panel at the same place, enlarged by integer nearest-neighbour factors, with a scale
    bar when the pixel size is known (:func:`~microsr_core.comparison.panels.zoomed_panels`); ``beneath(column,
    panel, enlargement)`` draws what goes under a panel (the verdict and maps, :mod:`.verdicts`)."""
    overlay = any(p.labels is not None for p in panels) and st.toggle("Overlay the parsing map", key="parsing_overlay")
    if overlay:
        st.caption(OVERLAY_LEGEND.capitalize() + ".")
    for panel in panels:
        reason = panel.implausible()
        if reason:
            st.warning(f"{panel.title}: {reason}. Its SR rests on that map and may be worse than bicubic here "
                       "(the prior learned from leukocyte images).")
    grid = zoomed_panels(panels, roi, scale, size, um_per_px, overlay)
    st.markdown(PIXEL_EXACT_CSS, unsafe_allow_html=True)
    with st.container(key="zoom_grid"):
        for column, shown in zip(st.columns(len(grid)), grid):
            column.markdown(swatch(shown.panel.title, shown.panel.colour), unsafe_allow_html=True)
            _show(shown.view.image, shown.view.caption, column, width=shown.view.image.shape[1])
            if beneath is not None:
                beneath(column, shown.panel, shown.enlargement)
    st.caption(NOT_FOR_DIAGNOSIS)
    return {shown.panel.title: shown.view for shown in grid}


def pair_view(views: dict[str, Zoomed]) -> None:
    """Two panels of the zoom grid on one screen: side by side (the default) in one image, which a
    phone shrinks to its width instead of stacking the two, or as a wipe."""
    names = list(views)
    left, right = st.columns(2)
    first = left.selectbox("Left (before)", names, index=0, key="wipe_before")
    second = right.selectbox("Right (after)", names, index=min(1, len(names) - 1), key="wipe_after")
    mode = st.radio("Show them", PAIR_MODES, horizontal=True, key="pair_mode")
    if mode == PAIR_MODES[0]:
        _show(display.side_by_side(views[first].image, views[second].image), f"{first} | {second}")
        return
    position = st.slider("Split (% of the width from the left shows the left panel)", 0, 100, 50, key="wipe_split")
    _show(display.wipe(views[first].image, views[second].image, position / 100), f"{first} | {second}")


PAIR_MODES = ("side by side", "wipe")


#: The tables' widths in px: the method (index) column and each figure's, so that every column of
#: the widest table (six figures) fits the 880 px a 1280-px desktop leaves beside the sidebar.
METHOD_COLUMN, METHOD_WIDTH, FIGURE_WIDTH = "_index", 180, 100
#: Width of a method's card of figures (px): fits a phone's 390-px screen, wraps three abreast on a desktop.
CARD_WIDTH = 320


def result_cards(outcome: Outcome) -> None:
    """One card per method with every figure of its metrics row, the key figure first: the cards
    wrap to the screen's width, so a phone reads every figure without scrolling sideways."""
    with st.container(horizontal=True, key="result_cards"):
        for row in outcome.rows:
            with st.container(border=True, width=CARD_WIDTH):
                st.markdown(swatch(row["title"], outcome.settings.colours[row["method"]]), unsafe_allow_html=True)
                st.markdown("  \n".join(f"{label}: **{value}**" for label, value in display.method_figures(row)))


def results_table(outcome: Outcome) -> None:
    """Timings and the LR-consistency check (no HR reference needed) as one table, in an expander
    (the cards show the same figures); short headings so that every column fits a 1280-px desktop."""
    frame = pd.DataFrame(outcome.rows).set_index("title")[["weights", "seconds", "device", "tiles", "lr_consistency_psnr_y", "lr_consistency_max_abs_dy"]]
    with st.expander("The same figures as one table"):
        st.dataframe(frame, key="results_table", column_config={  # widths in px: 700 in all, under the 880 px a 1280-px desktop leaves
            METHOD_COLUMN: st.column_config.TextColumn("method", width=METHOD_WIDTH),
            "weights": st.column_config.TextColumn("weights", width=180),
            "seconds": st.column_config.NumberColumn("time (s)", format="%.3f", width=70),
            "device": st.column_config.TextColumn("device", width=60),
            "tiles": st.column_config.NumberColumn("tiles", width=50),
            "lr_consistency_psnr_y": st.column_config.NumberColumn("LR-cons. (dB)", format="%.2f", width=90,
                                                                   help="LR-consistency PSNR-Y (dB)"),
            "lr_consistency_max_abs_dy": st.column_config.NumberColumn("max |ΔY|", format="%.1f", width=70,
                                                                       help="max |ΔY| (8-bit levels)"),
        })
    for method, drop in outcome.inconsistent_with_the_lr().items():
        st.warning(f"{outcome.settings.titles[method]}: its result reproduces the LR {drop:.1f} dB worse than Bicubic's (LR-consistency): "
                   "it changed what the LR shows, or the LR is not of the kind chosen.")
    st.caption(
        f"LR-consistency: SR degraded by {outcome.inputs.degradation.noiseless().describe()} (no rounding), compared with the LR input on "
        f"Y (BT.601 studio swing), border {compare.CONSISTENCY_BORDER} LR px shaved, data range 255. Low values mean "
        "the result does not reproduce the LR input: detail there was invented or lost. Time: wall clock of the whole image."
    )


def metrics_section(outcome: Outcome) -> None:
    """PSNR/SSIM and stain fidelity against the reference: table, chart and the convention of every number."""
    reference, roi = outcome.reference, outcome.roi
    frame = pd.DataFrame(outcome.rows).set_index("title")
    formats = {"psnr_y": ("PSNR-Y (dB)", "%.3f"), "ssim_y": ("SSIM-Y", "%.4f"), "delta_e_mean": ("ΔE00 mean", "%.2f"),
               "delta_e_p95": ("ΔE00 95th pct", "%.2f"), "psnr_rgb": ("PSNR-RGB (dB)", "%.3f"), "ssim_rgb": ("SSIM-RGB", "%.4f")}
    # Two tables of a few columns each: one of ten was cut off at the region columns.
    region = "the whole image" if reference.mode == "direct" else f"the matched region {reference.window.describe()}"
    st.markdown(f"**Whole image** ({region})")
    st.dataframe(frame[list(formats)], column_config={
        METHOD_COLUMN: st.column_config.TextColumn("method", width=METHOD_WIDTH),
        **{key: st.column_config.NumberColumn(label, format=fmt, width=FIGURE_WIDTH) for key, (label, fmt) in formats.items()}},
        key="metrics_table")
    st.markdown(f"**Region of interest** ({roi.describe()})")
    region_keys = ("psnr_y", "ssim_y", "delta_e_mean", "delta_e_p95")
    st.dataframe(frame[[f"roi_{key}" for key in region_keys]], column_config={
        METHOD_COLUMN: st.column_config.TextColumn("method", width=METHOD_WIDTH),
        **{f"roi_{key}": st.column_config.NumberColumn(formats[key][0], format=formats[key][1], width=FIGURE_WIDTH) for key in region_keys}},
        key="region_table")
    st.markdown("**Clinical agreement** (the project's nucleus and cell segmenter on the result and on the HR reference)")
    clinical = {"nucleus_dice": ("nucleus Dice", "%.3f"), "cell_count_diff": ("cells found − HR's", "%+d"),
                "nucleus_area_error_pct": ("nucleus area error (%)", "%.1f"), "nc_ratio_error": ("N:C ratio error", "%.3f")}
    st.dataframe(frame[list(clinical)], column_config={
        key: st.column_config.NumberColumn(label, format=fmt) for key, (label, fmt) in clinical.items()}, key="clinical_table")
    st.caption(
        f"Clinical agreement: {AGREEMENT_CONVENTION} "
        f"Against the HR reference over {region}: {convention(outcome.settings.scale)}; RGB columns on all channels. "
        f"Stain fidelity (ΔE00): {STAIN_CONVENTION}, same border. "
        f"Region of interest: where the reference covers it, no border shaved. "
        f"LR: {outcome.inputs.origin}."
    )
    gains_chart(outcome)


def gains_chart(outcome: Outcome) -> None:
    """Each method's PSNR-Y, SSIM-Y and mean ΔE00 minus Bicubic's on the same image and region, in
    the method's colour: differences of a few tenths of a dB stay visible (absolute values: table)."""
    gains, settings = outcome.gains, outcome.settings
    if not gains:
        st.info("Gains are measured against Bicubic on the same image: add Bicubic to the methods to chart them.")
        return
    fig = make_subplots(rows=1, cols=len(GAIN_CHARTS), subplot_titles=[chart.title for chart in GAIN_CHARTS], horizontal_spacing=0.09)
    where = ["whole image", "region"]
    for method, gain in gains.items():
        for col, chart in enumerate(GAIN_CHARTS, start=1):
            values = [gain[chart.metric], gain["roi_" + chart.metric]]
            fig.add_bar(x=where, y=values, name=settings.titles[method], marker_color=settings.colours[method], legendgroup=method,
                        showlegend=col == 1, text=["" if math.isnan(v) else f"{v:+.{chart.digits}f}" for v in values], row=1, col=col)
    for col, chart in enumerate(GAIN_CHARTS, start=1):
        if chart.min_span:
            largest = max([abs(g[key]) for g in gains.values() for key in (chart.metric, "roi_" + chart.metric) if not math.isnan(g[key])],
                          default=0.0)
            span = max(chart.min_span, 1.15 * largest)
            fig.update_yaxes(range=[-span, span], row=1, col=col)
    fig.add_hline(y=0, line_color=display.BASELINE_COLOUR, line_width=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=400, margin=dict(l=10, r=10, t=70, b=10), barmode="group",
                      legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, title_text="method"))
    st.plotly_chart(fig, key="gains_chart")
    st.caption(GAINS_CAPTION)


def class_section(outcome: Outcome) -> None:
    """Per-class PSNR/SSIM (nucleus, cytoplasm, background) from the first parsing map: one row
    per method, two columns per class (nothing without a parsing map)."""
    classes = outcome.classes
    if classes is None:
        return
    st.dataframe(pd.DataFrame(classes.rows).set_index("method"), key="class_table", column_config={
        # Short headings, so that all six columns fit beside the method names (the caption gives the units).
        f"{name} {metric}": st.column_config.NumberColumn(f"{name} {metric.split('-')[0]}", format=f"%.{digit}f", width="small")
        for name in classes.names for metric, digit in CLASS_DIGITS.items()})
    st.caption(classes.caption)


def maps_section(outcome: Outcome) -> None:
    """Error and SSIM maps against the reference, and LR-consistency maps, per method, each column
    under its colour bar and every map drawn MAP_SIDE px wide."""
    maps = outcome.maps
    for column, kind, bar in zip(st.columns(3), maps.kinds, maps.bars):
        _show(bar.image, kind.bar_caption(), column, width=MAP_SIDE)
    for row in maps.rows:
        for column, view in zip(st.columns(3), row):
            _show(view.image, view.caption, column, width=MAP_SIDE)
    st.caption(MAPS_CAPTION)


def downloads(outcome: Outcome) -> None:
    """Lossless PNG per result, a ZIP with everything plus metrics and settings, and the HTML report."""
    depth, settings = outcome.inputs.bit_depth, outcome.settings
    # Buttons as wide as their labels, wrapping: in equal columns long titles were cut ("VDSR-residua…").
    with st.container(horizontal=True, key="png_downloads"):
        for method, result in outcome.results.items():
            st.download_button(f"{settings.titles[method]} (PNG)", lambda r=result: encode_image(r.image, "png", depth),
                               file_name=f"{method}_x{settings.scale}.png", mime="image/png", on_click="ignore",
                               key=f"png_{method}", width="content")
    with st.container(horizontal=True, key="all_downloads"):
        st.download_button("All results (ZIP)", lambda: archive(outcome), file_name=f"microsr_x{settings.scale}.zip",
                           mime="application/zip", on_click="ignore", key="zip", type="primary")
        st.download_button("Report (HTML)", lambda: report_html(outcome),
                           file_name=f"microsr_report_x{settings.scale}.html", mime="text/html", on_click="ignore",
                           key="report", help="One self-contained HTML file: the panels, metrics with their "
                           "conventions, gain charts, per-class table and maps, each method's weights checksum, the settings; "
                           "opens offline in any browser.")
