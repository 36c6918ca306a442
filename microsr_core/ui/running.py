"""The controls (scale, methods, device, tiling) and running the methods with progress.

Scale and methods sit in the page flow (with the LR kind of :mod:`.inputs`), where a phone shows
them without opening the sidebar: Streamlit cannot read the viewport's width on the server, so
one layout serves every screen; the sidebar keeps the device and the advanced settings.

Before running, every method's weights are resolved (:mod:`microsr_core.models.serving`, through the
catalog). Results are cached per user in ``st.session_state`` under (input, method, the
serving weights' sha256, LR kind, scale, device, tile), so moving the region of interest or
changing a plot never recomputes, and republished weights never reuse an old result. The models
themselves are shared by every session (:func:`.loaders.shared_method`).
"""

from __future__ import annotations

import streamlit as st

from ..models.catalog import MethodInfo, unavailable_reason
from ..models.device import DEVICE_CHOICES, available_devices, resolve_device
from ..comparison.display import crop, method_colours
from ..comparison.inputs import Inputs, Settings, result_key
from ..errors import MicroSRError, WeightsError
from ..imaging.capture_condition import CaptureCondition, estimate_condition
from ..imaging.capture_maps import CHOICES, CaptureAssumption
from ..models.inference import SRResult, upscale
from ..imaging.io import to_uint
from ..imaging.roi import Roi
from ..models.serving import DEFAULT_KIND
from ..models import timings
from . import state
from .loaders import default_scale, scale_choices, shared_method

#: LR images above this many pixels offer "region first".
REGION_FIRST_PIXELS = 1_000_000
#: LR pixels of context around the region when it is computed first.
REGION_CONTEXT = 16


def methods_key(scale: int, lr_kind: str) -> str:
    """The methods widget's key: one selection per scale and LR kind (bicubic keeps ``methods_x2``)."""
    return f"methods_x{scale}" + ("" if lr_kind == DEFAULT_KIND else f"_{lr_kind}")


def scale_control(catalog: list[MethodInfo]) -> int:
    """The page's first widget: the scale, which the input widgets need."""
    scales = scale_choices(catalog) or [2]
    return int(st.selectbox("Scale", scales, index=scales.index(default_scale(scales)), format_func=lambda s: f"x{s}", key="scale"))


def controls(catalog: list[MethodInfo], scale: int, lr_kind: str) -> Settings:
    """The methods (in the page) and, in the sidebar, the device and advanced settings; methods
    that cannot serve this scale or LR kind are listed with the reason, as are unavailable devices.
    A selection made for another scale or LR kind keeps its own key, so it comes back with them."""
    usable = [info for info in catalog if unavailable_reason(info, scale, lr_kind) is None]
    titles = {info.name: info.title for info in catalog}
    key = methods_key(scale, lr_kind)
    if key not in st.session_state:  # every usable method at first; set here, not as the widget's default (state.keep)
        st.session_state[key] = [info.name for info in usable]
    methods = st.multiselect("Methods", [info.name for info in usable], format_func=titles.get, key=key)
    for info in catalog:
        reason = unavailable_reason(info, scale, lr_kind)
        if reason:
            st.caption(f"{info.title}: {reason}")
    served = {info.name: info.served[scale, lr_kind] for info in usable}
    capture = capture_controls() if any(served[m].reads_capture_maps for m in methods) else CaptureAssumption()
    sidebar = st.sidebar
    sidebar.header("Settings")
    present = available_devices()
    choice = sidebar.radio(
        "Device", DEVICE_CHOICES, horizontal=True, key="device",
        format_func=lambda d: d if d == "auto" or d in present else f"{d} (not available)",
    )
    sidebar.caption(f"Available here: {', '.join(present)}; auto uses {resolve_device('auto').type}.")
    try:
        device = resolve_device(choice).type
    except MicroSRError as exc:
        sidebar.error(str(exc))
        device = None
    with sidebar.expander("Advanced"):
        tile = st.number_input("Tile size (LR px; 0 = whole image at once)", min_value=0, value=None, step=64,
                               placeholder="automatic", key="tile")
        region_first = st.checkbox(f"Region first for images over {REGION_FIRST_PIXELS / 1e6:g} MP", value=True, key="region_first")
    fingerprints = {info.name: info.fingerprint(lr_kind) for info in usable}
    return Settings(scale, lr_kind, list(methods), titles, served, fingerprints, method_colours([info.name for info in catalog]),
                    device, choice, None if tile is None else int(tile), region_first, capture)


def capture_controls() -> CaptureAssumption:
    """Noise and blur for the selected weights that read capture maps (auto: estimated from the image)."""
    st.caption("Weights selected here read the capture's noise and blur: auto estimates them from the image; "
               "low or high assume them (noise 1 or 8 grey levels; blur: as sharp as a bicubic downscale, or detail 0.6).")
    left, right = st.columns(2)
    return CaptureAssumption(left.selectbox("Noise", CHOICES, key="capture_noise"), right.selectbox("Blur", CHOICES, key="capture_blur"))


def current_results(inputs: Inputs, settings: Settings) -> dict[str, SRResult]:
    """The cached results of the selected methods for the current input and settings."""
    found = {}
    for method in settings.methods:
        result = state.recall(state.RESULTS, result_key(inputs, settings, method))
        if result is not None:
            found[method] = result
    return found


def lr_condition(inputs: Inputs, settings: Settings) -> CaptureCondition | None:
    """The whole LR's estimated capture condition where a selected method's weights read capture maps
    (made once per image and kept: the region preview's crop reads the whole image's), else None."""
    if all(settings.capture_of(method) is None for method in settings.methods):
        return None
    key = ("lr condition", inputs.key)
    return state.recall(state.DERIVED, key) or state.remember(state.DERIVED, key, estimate_condition(inputs.lr))


def _upscale(lr, method: str, settings: Settings, progress=None, condition: CaptureCondition | None = None) -> SRResult:
    """Run one method; a CUDA out-of-memory that tiling could not avoid falls back to the CPU.

    Raises :class:`WeightsError` if the result was not computed by the weights its key names,
    so a stale shared model can never be credited.
    """
    expected, fingerprint = settings.served[method], settings.fingerprints[method]
    try:
        model = shared_method(method, settings.device, settings.lr_kind, fingerprint)
        result = upscale(lr, model, settings.scale, tile=settings.tile, progress=progress, capture=settings.capture_of(method),
                         condition=condition)
    except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
        if settings.device == "cpu" or "out of memory" not in str(exc).lower():
            raise
        model = shared_method(method, "cpu", settings.lr_kind, fingerprint)
        result = upscale(lr, model, settings.scale, tile=settings.tile, progress=progress, capture=settings.capture_of(method),
                         condition=condition)
        result.notes.append("the GPU ran out of memory even with small tiles: computed on the CPU instead")
    if result.served.sha256 != expected.sha256:
        raise WeightsError(f"{method} x{settings.scale} ran weights {result.served.ref} ({str(result.served.sha256)[:12]}), "
                           f"not {expected.ref} ({str(expected.sha256)[:12]}): the weights changed while loading; run again")
    return result


def _region_preview(inputs: Inputs, settings: Settings, roi: Roi) -> None:
    """Compute and show the region of interest quickly before the whole image."""
    context = Roi(roi.row - REGION_CONTEXT, roi.col - REGION_CONTEXT, roi.height + 2 * REGION_CONTEXT, roi.width + 2 * REGION_CONTEXT)
    context = context.clamp(inputs.lr.shape)
    inner = Roi(roi.row - context.row, roi.col - context.col, roi.height, roi.width)
    st.caption("Region first: the region of interest, while the whole image is computed")
    columns = st.columns(max(len(settings.methods), 1))
    for column, method in zip(columns, settings.methods):
        try:
            part = _upscale(crop(inputs.lr, context), method, settings, condition=lr_condition(inputs, settings))
        except MicroSRError:
            continue  # reported by the full run below
        column.image(to_uint(crop(part.image, inner, settings.scale), 8), caption=f"{settings.titles[method]} (region preview)",
                     output_format="PNG")


def _estimate_text(estimates: dict[str, float | None], titles: dict[str, str]) -> str:
    """"VDSR about 12 s, MicroGAN not timed here yet": per method, from the last runs here."""
    return ", ".join(f"{titles[m]} {'about ' + _seconds(t) if t is not None else 'not timed here yet'}" for m, t in estimates.items())


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def run_section(inputs: Inputs, settings: Settings, roi: Roi) -> None:
    """The Run button, labelled with the time the last runs here suggest; computes the selected
    methods not yet cached, the fastest first, each with its progress, and shows each one's
    region as soon as it is done."""
    pending = [m for m in settings.methods if state.recall(state.RESULTS, result_key(inputs, settings, m)) is None]
    height, width = inputs.lr.shape[:2]
    device = settings.device or "cpu"
    estimates = timings.estimates(pending, settings.scale, device, height * width)
    known = [t for t in estimates.values() if t is not None]
    label = "All selected results are ready"
    if pending:
        label = f"Run {len(pending)} method(s)"
        if known:
            label += f" · about {_seconds(sum(known))}" + ("" if len(known) == len(pending) else " + untimed")
    slot = st.empty()
    clicked = slot.button(label, type="primary", key="run", disabled=not pending or settings.device is None)
    if pending and known:
        st.caption(f"Estimates from the last runs on this machine: {_estimate_text(estimates, settings.titles)}.")
    if not clicked:
        last_key, messages = st.session_state.get(state.RUN_MESSAGES, (None, []))
        for kind, message in messages if last_key == inputs.key else []:
            (st.error if kind == "error" else st.warning)(message)
        return
    messages: list[tuple[str, str]] = []
    if settings.region_first and height * width > REGION_FIRST_PIXELS:
        _region_preview(inputs, settings, roi)
    # Fastest first, so that the first panels come soon; untimed methods keep their order, last.
    order = sorted(pending, key=lambda m: (estimates[m] is None, estimates[m] or 0.0))
    live = st.empty()  # each finished method's region, until the full panels below replace them
    columns = live.container().columns(len(order))
    total = 0.0
    for column, method in zip(columns, order):
        title = settings.titles[method]
        bar = st.progress(0.0, text=f"{title}: starting")

        def report(done: int, total: int, bar=bar, title=title) -> None:
            bar.progress(done / total, text=f"{title}: tile {done} of {total}")

        try:
            result = _upscale(inputs.lr, method, settings, report, lr_condition(inputs, settings))
        except MicroSRError as exc:
            bar.empty()
            messages.append(("error", f"{title}: {exc}"))
            st.error(f"{title}: {exc}")
            continue
        timings.record(result, height * width)
        total += result.seconds
        bar.progress(1.0, text=f"{title}: done in {result.seconds:.2f} s on {result.device} ({result.backend}, {result.precision}), {result.tiles} tile(s)")
        column.image(to_uint(crop(result.image, roi, settings.scale), 8), caption=f"{title} · done in {_seconds(result.seconds)}",
                     output_format="PNG")
        for note in result.notes:
            messages.append(("warning", f"{title}: {note}"))
            st.warning(f"{title}: {note}")
        state.remember(state.RESULTS, result_key(inputs, settings, method), result)
    live.empty()
    slot.success(f"Computed {len(order) - sum(kind == 'error' for kind, _ in messages)} of {len(order)} method(s) in {_seconds(total)}: "
                 "the results are below.")
    st.session_state[state.RUN_MESSAGES] = (inputs.key, messages)
