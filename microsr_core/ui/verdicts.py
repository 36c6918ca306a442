"""Under every result panel: the verdict without an HR reference, and where the result may be invented.

The verdict is :mod:`microsr_core.comparison.assess`'s (calibrated on the val split): a badge
("likely helped, +1.2 dB ± 0.6", "likely made it worse", "can't tell") with its one-line reason.
Beside it two maps of the region of interest, at the panel's zoom: the **uncertainty** (the
spread of a ×2 self-ensemble: the method run on the region and on its mirror image) and the
**disagreement** (where the result departs from the other methods' consensus by more than the
LR's noise). The ×8 self-ensemble mean (EDSR's "+") of one method is offered with its time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import streamlit as st

from ..comparison import assess, display
from ..comparison.compare import BASELINE
from ..comparison.inputs import Inputs, Settings, result_key
from ..comparison.outcome import Zoomed
from ..imaging.evidence import TRANSFORMS
from ..errors import MicroSRError
from ..imaging.io import LoadedImage, encode_image
from ..imaging.roi import Roi
from ..models.inference import SRResult
from . import state
from .loaders import shared_method

#: 8-bit levels at the top of each map's colour scale.
SPREAD_RANGE, DISAGREEMENT_RANGE = 4.0, 20.0
BADGE_COLOURS = {"helped": "green", "hurt": "red", "unsure": "gray"}
MAPS_NOTE = (f"Uncertainty: spread of Y over a ×{assess.ENSEMBLE} self-ensemble (the method on the region and on its mirror "
             f"image), 0 to {SPREAD_RANGE:g} grey levels. Disagreement: |Y| away from the median of the other methods where it "
             f"exceeds 3× the LR's noise, 0 to {DISAGREEMENT_RANGE:g} levels. Bright = detail this method alone draws.")
VERDICT_NOTE = ("Verdicts without an HR reference: the gain over bicubic expected from what the images themselves show "
                "(LR consistency under the capture the image's facts suggest, colour and detail moved from bicubic, "
                "self-ensemble spread, departure from the other methods), by a linear model fitted on held-apart val images; "
                "± is its 80 % interval. On test images its sign was right for 99 % of the pairs it decided (docs/results.md).")


@dataclass
class Assessed:
    """The verdicts of one run and what they rest on."""

    gathered: assess.Gathered
    verdicts: dict[str, dict]  # method -> assess.predict's row


def _models(results: dict[str, SRResult], settings: Settings) -> dict:
    return {m: shared_method(m, settings.device, settings.lr_kind, settings.fingerprints[m]) for m in results if m != BASELINE}


def assessment(inputs: Inputs, results: dict[str, SRResult], settings: Settings) -> Assessed:
    """The verdict of every method on this image (computed once per result set)."""
    key = ("assess", settings.lr_kind) + tuple(result_key(inputs, settings, m) for m in results)

    def compute() -> Assessed:
        loaded = LoadedImage(inputs.lr, inputs.bit_depth, inputs.name, "RGB", jpeg_quality=inputs.jpeg_quality)
        gathered = assess.gather_results(loaded, results, settings.scale, lr_kind=settings.lr_kind, models=_models(results, settings))
        return Assessed(gathered, assess.verdicts(gathered, settings.scale, settings.lr_kind))

    return state.cached(state.DERIVED, key, compute)


def badge(container, row: dict) -> None:
    """The verdict as a coloured badge and its reason beneath."""
    container.badge(assess.verdict_label(row), color=BADGE_COLOURS[row["verdict"]])
    container.caption(row["reason"])


def region_maps(inputs: Inputs, settings: Settings, assessed: Assessed, method: str, roi: Roi, zoom: int) -> list[Zoomed]:
    """The uncertainty and disagreement maps of ``method`` over the region, at the panel's zoom."""
    key = result_key(inputs, settings, method)
    model = _models({method: None}, settings)[method]
    spread = state.cached(state.DERIVED, ("spread", roi) + key,
                          lambda: assess.region_spread(inputs.lr, model, settings.scale, *roi.slices(),
                                                       capture=assessed.gathered.results[method].capture_maps))
    departure = state.cached(state.DERIVED, ("disagreement",) + key, lambda: assess.disagreement(assessed.gathered, method))
    departure = display.crop(departure[..., None], roi, settings.scale, fill=0.0)[..., 0]
    title = settings.titles[method]
    return [Zoomed(display.nearest_zoom(display.colormap(values, 0.0, top, "magma"), zoom), f"{title}: {name}", settings.colours[method])
            for values, top, name in ((spread, SPREAD_RANGE, "uncertainty (self-ensemble spread)"),
                                      (departure, DISAGREEMENT_RANGE, "disagreement with the other methods"))]


def self_ensemble_section(inputs: Inputs, results: dict[str, SRResult], settings: Settings) -> None:
    """EDSR's "+": one method's ×8 self-ensemble mean, offered with its time (8 runs of the whole image)."""
    networks = [m for m in results if m != BASELINE]
    if not networks:
        return
    left, right = st.columns([2, 3])
    method = left.selectbox("Method", networks, format_func=settings.titles.get, key="ensemble_method")
    single = results[method].seconds
    right.caption(f"×8 self-ensemble (EDSR+): the mean of the method on the 8 flips and rotations of the image, "
                  f"about {8 * single:.1f} s here (8 × its {single:.2f} s), usually a few tenths of a dB better.")
    if not right.button(f"Compute the ×8 mean of {settings.titles[method]}", key="ensemble_run"):
        return
    start = time.perf_counter()
    model = _models({method: None}, settings)[method]
    mean = np.mean(assess.self_ensemble(inputs.lr, model, settings.scale, len(TRANSFORMS), capture=results[method].capture_maps), axis=0)
    seconds = time.perf_counter() - start
    st.image(display.shrink_for_display(np.clip(mean, 0, 1), 768)[0],
             caption=f"{settings.titles[method]} ×8 self-ensemble mean: {seconds:.1f} s ({seconds / max(single, 1e-9):.1f}× one run)")
    st.download_button(f"{settings.titles[method]} ×8 mean (PNG)", encode_image(mean, "png", inputs.bit_depth),
                       file_name=f"{method}_x{settings.scale}_ensemble8.png", mime="image/png", on_click="ignore", key="ensemble_png")


@dataclass
class UnderPanels:
    """What :func:`~microsr_core.ui.views.zoom_grid` draws under each panel, and what it drew (for the report and ZIP)."""

    inputs: Inputs
    settings: Settings
    roi: Roi
    assessed: Assessed | None
    show_maps: bool
    maps: list[Zoomed]

    def draw(self, column, panel, zoom: int) -> None:
        if self.assessed is None or panel.method is None:
            return
        if panel.method == BASELINE:
            column.caption("the baseline every verdict is measured against")
            return
        badge(column, self.assessed.verdicts[panel.method])
        if self.show_maps:
            for view in region_maps(self.inputs, self.settings, self.assessed, panel.method, self.roi, zoom):
                column.image(view.image, caption=view.caption, width=view.image.shape[1])
                self.maps.append(view)

    @property
    def verdicts(self) -> dict[str, dict]:
        """Each judged method's verdict (none without verdicts), for its metrics row (:func:`~microsr_core.comparison.outcome.compute_outcome`)."""
        return self.assessed.verdicts if self.assessed else {}


def under_panels(inputs: Inputs, results: dict[str, SRResult], settings: Settings, roi: Roi) -> UnderPanels:
    """Compute the verdicts (a spinner while the self-ensembles run) and the maps toggle."""
    assessed = None
    if any(m != BASELINE for m in results):
        try:
            with st.spinner("Judging each result without an HR reference…"):
                assessed = assessment(inputs, results, settings)
        except MicroSRError as exc:
            st.warning(f"No verdicts for this image: {exc}")
    show_maps = assessed is not None and st.toggle("Uncertainty and disagreement maps under each panel", value=True, key="verdict_maps")
    return UnderPanels(inputs, settings, roi, assessed, show_maps, [])
