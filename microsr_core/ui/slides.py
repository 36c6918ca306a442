"""The Compare page's whole-slide input: choose a slide (one under the data root's ``slides``
folder, or an upload), see its overview, choose a region on it (drag a box, or type level-0
coordinates) and get that region as the LR image. Reading is :mod:`microsr_core.scale_out.slides`;
every problem is one ``st.error`` line and the page goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from ..comparison.display import shrink_for_display
from ..comparison.inputs import SlidePlace
from ..comparison.share import UPLOAD
from ..errors import MicroSRError
from ..imaging.roi import Roi, roi_from_box
from ..scale_out.slides import MAX_REGION_SIDE, Overview, list_slides, overview, read_region, region_name, save_slide, slide_path
from ..uploads import UPLOAD_PREFIX
from . import state
from .overview import overview_figure, selected_box

SLIDE_TYPES = ["tif", "tiff", "svs"]
#: The region's widgets (level-0 px), in Roi order, and bookkeeping.
REGION_KEYS = ("slide_y", "slide_x", "slide_height", "slide_width")
SLIDE_SEEN = "slide_seen"  # the slide the region widgets belong to
SLIDE_BOX_SEEN = "slide_box_seen"  # last box applied from the slide's overview
DEFAULT_SIDE = 512


@dataclass
class SlideRegion:
    """A region read from a slide, ready to be the LR image."""

    pixels: np.ndarray
    name: str
    bit_depth: int
    key: str
    um_per_px: float | None
    place: SlidePlace  # the slide and the region it was read from (for the link)


def _slide_widgets(upload_mb: int):
    """The slide chosen from the list (a name or None) and the uploaded slide file (or None)."""
    names = list_slides()
    choice = st.selectbox("Slide (under the data root's slides folder)", names, index=None, key="slide_name",
                          placeholder="choose a slide" if names else "no slides in the data root's slides folder")
    uploaded = st.file_uploader("…or upload a slide (OME-TIFF, SVS, TIFF)", type=SLIDE_TYPES, key="upload_slide",
                                max_upload_size=upload_mb)
    return choice, uploaded


def _set_region(roi: Roi) -> None:
    for key, value in zip(REGION_KEYS, (roi.row, roi.col, roi.height, roi.width)):
        st.session_state[key] = value


def _readable(roi: Roi, shape: tuple[int, int]) -> Roi:
    """``roi`` inside a slide of ``shape`` (level-0 px) and at most MAX_REGION_SIDE a side."""
    roi = roi.clamp(shape)
    return Roi(roi.row, roi.col, min(roi.height, MAX_REGION_SIDE), min(roi.width, MAX_REGION_SIDE))


def _first_region(name: str, view: Overview) -> Roi:
    """Where a newly opened slide starts: the region of the link it was opened from (a link made on
    an upload: the first upload), else its centre."""
    shared = st.session_state.pop(state.SLIDE_SHARED, None)
    if shared is not None and shared[0] == (UPLOAD if name.startswith(UPLOAD_PREFIX) else name):
        return _readable(shared[1], (view.height, view.width))
    side = (min(DEFAULT_SIDE, view.height), min(DEFAULT_SIDE, view.width))
    return Roi((view.height - side[0]) // 2, (view.width - side[1]) // 2, *side)


def _region_controls(name: str, view: Overview) -> Roi:
    """The region (level-0 px) from a box dragged on the overview or typed in; a new slide starts
    with its centre, or the region of the link it was opened from."""
    shape = (view.height, view.width)
    if st.session_state.get(SLIDE_SEEN) != name or any(key not in st.session_state for key in REGION_KEYS):
        st.session_state[SLIDE_SEEN] = name
        _set_region(_first_region(name, view))
    box = selected_box(st.session_state.get("slide_overview"))
    if box is not None and box != st.session_state.get(SLIDE_BOX_SEEN):
        st.session_state[SLIDE_BOX_SEEN] = box
        _set_region(_readable(roi_from_box(box[0], box[1], shape), shape))
    left, right = st.columns([3, 2])
    with right:
        a, b = st.columns(2)
        a.number_input("y (level-0 px)", 0, view.height - 1, key=REGION_KEYS[0])
        b.number_input("x (level-0 px)", 0, view.width - 1, key=REGION_KEYS[1])
        a.number_input("Height (px)", 1, min(MAX_REGION_SIDE, view.height), key=REGION_KEYS[2])
        b.number_input("Width (px)", 1, min(MAX_REGION_SIDE, view.width), key=REGION_KEYS[3])
        st.caption(f"{view.description}. A region is at most {MAX_REGION_SIDE} px a side.")
    roi = Roi(*(int(st.session_state[key]) for key in REGION_KEYS))
    with left:
        small, factor = shrink_for_display(view.image, 768)
        st.plotly_chart(overview_figure(small, factor * view.factor, shape, roi), key="slide_overview", on_select="rerun",
                        selection_mode="box", config={"displaylogo": False, "scrollZoom": False})
        st.caption("Drag a box on the slide's overview to choose the region (yellow) that becomes the LR image.")
    return roi


def slide_section(upload_mb: int) -> SlideRegion | None:
    """Draw the slide widgets; return the chosen region, or None (with a message) when not ready."""
    choice, uploaded = _slide_widgets(upload_mb)
    if choice is None and uploaded is None:
        st.info("Choose a slide from the list, or upload an OME-TIFF or SVS file.")
        return None
    shown = choice if uploaded is None else uploaded.name  # an upload wins
    try:
        name = choice if uploaded is None else state.cached(
            state.DERIVED, ("slide upload", uploaded.file_id), lambda: save_slide(uploaded.getvalue(), uploaded.name))
        path = slide_path(name)
        stamp = (str(path), path.stat().st_mtime_ns)
        view = state.cached(state.DECODED, ("slide overview",) + stamp, lambda: overview(path))
        roi = _region_controls(name, view)
        region = (roi.col, roi.row, roi.width, roi.height)
        pixels = state.cached(state.DECODED, ("slide region",) + stamp + region, lambda: read_region(path, *region))
    except MicroSRError as exc:
        st.error(f"Slide {shown}: {exc}")
        return None
    um_per_px = view.pixel_size[1] if view.pixel_size else None
    return SlideRegion(pixels, region_name(shown, *region), view.bit_depth, f"slide:{stamp}:{region}", um_per_px, SlidePlace(name, roi))
