"""The input widgets: a sample from the built-in gallery or an upload, teaching mode, optional HR reference.

Every problem with a file is shown as ``st.error`` with the core's message and the page goes
on (the caller stops drawing what needs an image); nothing here raises to the page.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import streamlit as st

from ..comparison.inputs import Inputs
from ..models.catalog import UNKNOWN_KIND, MethodInfo, default_lr_kind
from ..imaging.degrade import DEGRADATIONS, Degradation, modcrop
from ..errors import ImageTooLarge, MicroSRError
from ..imaging.io import LoadedImage, image_hash, load_image
from ..imaging.capture_condition import estimate_condition
from ..imaging.lr_facts import lr_facts
from ..samples import DEFAULT, SAMPLES
from ..models.serving import LR_KINDS, lr_kind_of
from . import state
from .loaders import sample_pixels
from .slides import slide_section

#: Largest upload the app decodes (width × height); ``MICROSR_APP_MAX_PIXELS`` overrides it.
APP_MAX_PIXELS = int(os.environ.get("MICROSR_APP_MAX_PIXELS", 16_000_000))
#: Largest SR result the app computes (LR pixels × scale²), to bound memory per user.
MAX_OUTPUT_PIXELS = int(os.environ.get("MICROSR_APP_MAX_OUTPUT_PIXELS", 64_000_000))
#: What to do about an image over a limit of this app: every refusal names the next step.
TOO_LARGE_NEXT_STEP = ("crop it to the field you need, or use the command line (python -m microsr_core upscale), "
                       "which tiles without this limit")
UNREADABLE_NEXT_STEP = "save it again as PNG or TIFF (8 or 16 bit) and upload that"
#: Smallest LR side the app runs: below it the metrics' shaved border leaves nothing to measure.
MIN_LR_SIDE = 8
FILE_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "bmp"]
#: Largest image upload in MB (a 16 MP 16-bit TIFF is ~96 MB); the server allows more only for model files (Models page).
IMAGE_UPLOAD_MB = 200

SAMPLE, UPLOAD, SLIDE = "Built-in sample", "Upload an image", "A region of a whole slide"
DEGRADATION_LABELS = {
    "bicubic": "bicubic downscale (MATLAB imresize)",
    "gaussian": "Gaussian blur 15x15, then bicubic downscale",
    "microscope": "real capture (lower objective, camera pixel, sensor noise, JPEG)",
}
LR_KIND_LABELS = {"real": "a real capture (camera, lower objective)", "bicubic": "a bicubic downscale"}
#: The input key whose no-reference facts last set the LR-kind choice (a later choice by the user stands).
FACTS_APPLIED = "facts_applied"


def decode(uploaded, what: str) -> tuple[LoadedImage, str] | None:
    """Decode an uploaded file once per session; show ``st.error`` and return ``None`` on failure."""
    data = uploaded.getvalue()
    key = image_hash(data, uploaded.name)
    found = state.recall(state.DECODED, key)
    if found is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                found = load_image(data, name=uploaded.name, max_pixels=APP_MAX_PIXELS)
            except ImageTooLarge as exc:
                st.error(f"{what}: {exc} in this app; {TOO_LARGE_NEXT_STEP}")
                return None
            except MicroSRError as exc:
                st.error(f"{what}: {exc}; {UNREADABLE_NEXT_STEP}")
                return None
            except Exception as exc:  # noqa: BLE001 - a decoder failing on odd bytes is bad input, not a crash
                st.error(f"{what}: {uploaded.name} could not be read ({type(exc).__name__}: {exc}); {UNREADABLE_NEXT_STEP}")
                return None
        found.notes.extend(str(w.message) for w in caught if str(w.message) not in found.notes)
        state.remember(state.DECODED, key, found)
    for note in found.notes:
        if "alpha" in note:
            st.warning(note)
    return found, key


def _suggest_lr_kind(image: LoadedImage, key: str) -> None:
    """Show an uploaded LR image's no-reference facts and its capture's estimated noise and detail;
    for a new upload, preselect the LR kind they suggest and say so (facts that cannot tell leave
    the kind as it was)."""
    facts = state.recall(state.DERIVED, ("facts", key)) or state.remember(state.DERIVED, ("facts", key), lr_facts(image))
    if st.session_state.get(FACTS_APPLIED) != key:  # a later choice by the user stands
        st.session_state[FACTS_APPLIED] = key
        if facts.suggested_kind is not None:
            st.session_state["lr_kind"] = facts.suggested_kind
    applied = facts.suggested_kind is not None and st.session_state.get("lr_kind") == facts.suggested_kind
    condition = state.recall(state.DERIVED, ("condition", key)) or state.remember(state.DERIVED, ("condition", key), estimate_condition(image.pixels))
    *measured, suggested = facts.lines()
    st.caption("About this image (no reference needed): " + "; ".join([*measured, condition.line(), suggested]) + "."
               + (" The LR kind below follows this suggestion; change it if you know how the image was made." if applied else ""))


def chosen_lr_kind() -> str:
    """The LR kind as last chosen (kept while a refused upload hides its widget), else the default."""
    return st.session_state.get("lr_kind", UNKNOWN_KIND)


def lr_kind_choice(catalog: list[MethodInfo], source: str) -> str:
    """What an upload, a slide region or a sample used as LR is: a real capture or a bicubic
    downscale. An upload's facts preselect the kind they suggest; where they cannot tell, the
    default is :data:`~microsr_core.models.catalog.UNKNOWN_KIND` (measured least likely to make
    it worse). A slide region is a scanner's capture; a gallery sample a bicubic downscale, as the
    app always showed it."""
    default = {UPLOAD: UNKNOWN_KIND, SLIDE: default_lr_kind(catalog)}.get(source, "bicubic")
    options = [default] + [kind for kind in LR_KINDS if kind != default]  # the default first: index 0
    return st.radio("This LR image is", options, format_func=LR_KIND_LABELS.get, horizontal=True, key="lr_kind",
                    help="Methods run the weights trained for this kind of LR image; one without such weights is listed as unavailable.")


def input_section(scale: int, catalog: list[MethodInfo]) -> Inputs | None:
    """Draw the input widgets; return the inputs, or ``None`` (with a message) when not ready."""
    source = st.radio("Image", [SAMPLE, UPLOAD, SLIDE], horizontal=True, key="source")
    slide = None
    if source == SLIDE:
        slide = slide_section(IMAGE_UPLOAD_MB)
        if slide is None:
            return None
        pixels, name, depth, key, sample = slide.pixels, slide.name, slide.bit_depth, slide.key, None
    elif source == UPLOAD:
        uploaded = st.file_uploader("Image (PNG, JPEG, TIFF, BMP; 8 or 16 bit)", type=FILE_TYPES, key="upload_image",
                                    max_upload_size=IMAGE_UPLOAD_MB)
        if uploaded is None:
            st.info("Upload a microscope image, or choose the built-in sample.")
            return None
        decoded = decode(uploaded, "Image")
        if decoded is None:
            return None
        image, key = decoded
        pixels, name, depth, sample = image.pixels, image.name, image.bit_depth, None
    else:
        choice = st.selectbox("Sample", list(SAMPLES), index=list(SAMPLES).index(DEFAULT), format_func=lambda k: SAMPLES[k].title,
                              key="sample")
        sample = SAMPLES[choice]
        st.caption(f"{sample.description} Source: {sample.source}; licence: {sample.licence}.")
        pixels, name, depth, key = sample_pixels(choice), f"sample: {sample.title}", 8, f"sample:{choice}"
    teaching = st.toggle("Teaching mode: treat this image as the HR truth and make the LR from it", key="teaching")
    if teaching:
        kind = st.selectbox("How the LR is made", DEGRADATIONS, format_func=DEGRADATION_LABELS.get, key="degradation")
        lr_kind = lr_kind_of(kind)
    else:
        if source == UPLOAD:
            _suggest_lr_kind(image, key)
        lr_kind = lr_kind_choice(catalog, source)
        kind = "microscope" if lr_kind == "real" else "bicubic"  # what the LR-consistency check assumes
    degradation = Degradation(kind=kind, scale=scale)
    if teaching:
        if min(pixels.shape[:2]) < 4 * scale:
            st.error(f"{name}: {pixels.shape[1]}x{pixels.shape[0]} is too small to make an LR image at x{scale}; "
                     "choose a smaller scale or a larger image")
            return None
        lr = degradation.apply(pixels)
        hr = modcrop(pixels, scale)
        inputs = Inputs(lr, name, depth, image_hash(key, "teach", kind, str(scale)), degradation,
                        f"LR made from the HR image by {degradation.describe()}, rounded to 8 bit", lr_kind, hr, name, key + "-hr",
                        sample=sample, source_key=key, teaching=True, slide_um_per_px=slide.um_per_px if slide else None,
                        slide=slide.place if slide else None)
    else:
        what = {UPLOAD: "uploaded LR image", SLIDE: "slide region used as the LR image"}.get(source, "built-in sample used as the LR image")
        inputs = Inputs(np.asarray(pixels), name, depth, key, degradation,
                        f"{what}: {LR_KIND_LABELS[lr_kind]} (assumed made by {degradation.describe()} for the LR-consistency check)",
                        lr_kind, sample=sample, source_key=key, jpeg_quality=image.jpeg_quality if source == UPLOAD else None,
                        slide_um_per_px=slide.um_per_px if slide else None,
                        slide=slide.place if slide else None)
        reference = st.file_uploader("HR reference (optional): the same field at higher magnification",
                                     type=FILE_TYPES, key="upload_reference", max_upload_size=IMAGE_UPLOAD_MB)
        if reference is not None:
            decoded = decode(reference, "HR reference")
            if decoded is not None:
                inputs.reference, inputs.reference_name, inputs.reference_key = decoded[0].pixels, decoded[0].name, decoded[1]
    height, width = inputs.lr.shape[:2]
    if min(height, width) < MIN_LR_SIDE:
        st.error(f"{name}: the LR image is {width}x{height} px; at least {MIN_LR_SIDE}x{MIN_LR_SIDE} px are needed to super-resolve and measure it: upload a larger image")
        return None
    if height * width * scale * scale > MAX_OUTPUT_PIXELS:
        st.error(
            f"{name}: the x{scale} result would be {width * scale}x{height * scale} = {height * width * scale**2 / 1e6:.0f} MP, "
            f"over this app's limit of {MAX_OUTPUT_PIXELS / 1e6:.0f} MP; {TOO_LARGE_NEXT_STEP}"
        )
        return None
    st.caption(f"LR input: {name}, {width}x{height} px, {inputs.bit_depth}-bit. {inputs.origin}.")
    return inputs
