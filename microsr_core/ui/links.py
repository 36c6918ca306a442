"""Shareable views: the Compare page's sample (or slide and region of it), methods, scale, LR kind, region, panel size,
teaching mode and whether an HR reference was uploaded live in the URL's query string (:mod:`microsr_core.comparison.share`), so opening a copied link restores the view."""

from __future__ import annotations

import streamlit as st

from ..models.catalog import UNKNOWN_KIND, MethodInfo, unavailable_reason
from ..models.serving import LR_KINDS
from ..imaging.roi import Roi
from ..comparison.inputs import Inputs, Settings
from ..comparison.share import UPLOAD, View, from_query, to_query
from ..scale_out.slides import list_slides
from ..uploads import UPLOAD_PREFIX
from . import state
from .inputs import SAMPLE, SLIDE as SLIDE_SOURCE, UPLOAD as UPLOAD_SOURCE
from .loaders import default_scale, scale_choices
from .running import methods_key


def restore(catalog: list[MethodInfo]) -> None:
    """On the session's first run of the page, set the widgets from the URL and say what could
    not be restored (an uploaded image, methods or a scale this installation lacks)."""
    if st.session_state.get(state.LINK_READ):
        return
    st.session_state[state.LINK_READ] = True
    view, problems = from_query(st.query_params.to_dict())
    if view.sample == UPLOAD:
        st.session_state["source"] = UPLOAD_SOURCE
        st.info("This link was made on an uploaded image, and images cannot travel in a URL: upload it again. "
                "The link's methods, scale, region and panel size are restored.")
    elif view.sample is not None:
        st.session_state["source"], st.session_state["sample"] = SAMPLE, view.sample
    if view.slide is not None:
        _restore_slide(view, problems)
    if view.teach is not None:
        st.session_state["teaching"], st.session_state["degradation"] = True, view.teach
    elif view.reference:
        st.info("This view had an HR reference, which cannot travel in a URL: upload it again to see the metrics against it.")
    scales = scale_choices(catalog) or [2]
    scale = default_scale(scales)
    if view.scale is not None:
        if view.scale in scales:
            st.session_state["scale"] = scale = view.scale
        else:
            problems.append(f"scale x{view.scale} is not offered here ({', '.join(f'x{s}' for s in scales)})")
    kind = view.lr_kind or UNKNOWN_KIND
    if view.lr_kind is not None:
        st.session_state["lr_kind"] = view.lr_kind
    if view.methods is not None:
        # every kind's selection: an upload's facts may choose another kind once the image is back
        usable = {each: [info.name for info in catalog if unavailable_reason(info, scale, each) is None] for each in {kind, *LR_KINDS}}
        for each, names in usable.items():
            st.session_state[methods_key(scale, each)] = [m for m in view.methods if m in names]
        missing = [m for m in view.methods if m not in usable[kind]]
        if missing:
            problems.append(f"method(s) {', '.join(missing)} not available here at x{scale} for {kind} LR")
    if view.roi is not None:
        st.session_state[state.ROI_SHARED] = view.roi
    if view.panel is not None:
        st.session_state["panel_size"] = view.panel
    for name in ("noise", "blur"):
        if getattr(view, name) is not None:
            st.session_state[f"capture_{name}"] = getattr(view, name)
    if problems:
        st.warning("Part of this link could not be restored: " + "; ".join(problems) + ".")


def _restore_slide(view: View, problems: list[str]) -> None:
    """Open the link's slide (one of the slides folder's; an upload is asked for again) at its region."""
    st.session_state["source"] = SLIDE_SOURCE
    if view.slide == UPLOAD:
        st.info("This link was made on an uploaded slide, and slides cannot travel in a URL: upload it again. "
                "The link's region of the slide, methods, scale, region and panel size are restored.")
    elif view.slide in list_slides():
        st.session_state["slide_name"] = view.slide
    else:
        problems.append(f"slide '{view.slide}' is not in the data root's slides folder")
        return
    if view.slide_region is not None:
        st.session_state[state.SLIDE_SHARED] = (view.slide, view.slide_region)


#: Under the view when its LR is a region of an uploaded slide: what its link cannot reopen.
UPLOADED_SLIDE_LINK = ("Link (the address bar): it keeps the region of the slide, methods, scale, region and panel size, but "
                       "not the uploaded slide: a link reopens only slides from the data root's slides folder, so whoever "
                       "opens it is asked to upload the slide again.")


def publish(inputs: Inputs, settings: Settings, roi: Roi, panel: int) -> None:
    """Write the current view into the URL (the browser's address bar updates without a reload)."""
    slide = inputs.slide
    slide_name = None if slide is None else UPLOAD if slide.name.startswith(UPLOAD_PREFIX) else slide.name
    sample = None if slide is not None else UPLOAD if inputs.sample is None else inputs.sample.key
    teach = inputs.degradation.kind if inputs.teaching else None
    uploaded_reference = inputs.reference is not None and not inputs.teaching  # in teaching mode the image is the HR
    noise, blur = (None if value == "auto" else value for value in (settings.capture.noise, settings.capture.blur))
    st.query_params.from_dict(to_query(View(sample, tuple(settings.methods), settings.scale, roi, panel, inputs.lr_kind,
                                            teach, uploaded_reference, slide_name, None if slide is None else slide.region, noise, blur)))
    if slide_name == UPLOAD:
        st.caption(UPLOADED_SLIDE_LINK)
