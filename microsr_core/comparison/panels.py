"""The zoom grid of the Compare page: one :class:`Panel` per image (the LR input, each method's
result, the HR reference), and each panel's region of interest cut out, enlarged by whole pixels
(nearest neighbour) and given a scale bar, ready to be drawn.

Every panel shows the same place at the same screen size: an SR crop is enlarged ``zoom`` times
(:func:`~.display.zoom_factor`), a panel ``factor`` times the LR size ``zoom * scale // factor``
times, so one scale bar fits every panel. Nothing here imports streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import display
from .compare import Reference
from .inputs import Inputs, Settings, result_key
from .outcome import Cache, Zoomed, compute_now, result_labels
from ..imaging.parsing import BACKGROUND, implausible_parsing, parsing_overlay
from ..imaging.roi import Roi
from ..models.inference import SRResult


@dataclass
class Panel:
    """One image of the grid: ``factor`` times the LR size, its top-left at ``offset``."""

    title: str
    image: np.ndarray
    factor: int
    offset: tuple[int, int] = (0, 0)
    labels: np.ndarray | None = None  # parsing-map labels, same size as image
    colour: str | None = None  # the method's colour (None for the LR input and the HR reference)
    method: str | None = None  # the method that made it (None for the LR input and the HR reference)

    def implausible(self) -> str | None:
        """Why its parsing map is implausible (:func:`~microsr_core.imaging.parsing.implausible_parsing`), or None."""
        return None if self.labels is None else implausible_parsing(self.labels)


@dataclass(frozen=True)
class Shown:
    """A panel as the grid shows it: its ``view`` (region enlarged ``enlargement`` times, scale bar drawn)."""

    panel: Panel
    view: Zoomed
    enlargement: int


def panel_title(title: str, result: SRResult) -> str:
    """``VDSR-residual · vdsr_x2 (bicubic LR)``: the method and the weights that computed it, and
    the capture maps they read (``· noise 2.1 (estimated), detail 1.00 (override: blur low)``)."""
    maps = f" · {result.capture_maps.describe()}" if result.capture_maps is not None else ""
    return f"{title} · {result.served.label()}{maps}"


def build_panels(inputs: Inputs, results: dict[str, SRResult], reference: Reference | None, settings: Settings,
                 cache: Cache = compute_now) -> list[Panel]:
    """The LR input, each result (with its parsing labels, looked up in ``cache``) and the HR
    reference placed where it matched."""
    panels = [Panel("LR input", inputs.lr, 1)]
    for method, result in results.items():
        labels = cache(("labels",) + result_key(inputs, settings, method), lambda r=result: result_labels(r))
        panels.append(Panel(panel_title(settings.titles[method], result), result.image, settings.scale, labels=labels,
                            colour=settings.colours[method], method=method))
    if reference is not None:
        window = reference.window.scaled(settings.scale)
        panels.append(Panel("HR reference", reference.hr, settings.scale, (window.row, window.col)))
    return panels


def zoom_panel(panel: Panel, roi: Roi, enlargement: int, overlay: bool = False) -> np.ndarray:
    """``roi`` (LR px) of the panel, its parsing map overlaid where asked and it has one, enlarged
    ``enlargement`` times by repeating pixels."""
    image = display.crop(panel.image, roi, panel.factor, panel.offset)
    if overlay and panel.labels is not None:
        image = parsing_overlay(image, display.crop(panel.labels[..., None], roi, panel.factor, fill=BACKGROUND)[..., 0])
    return display.nearest_zoom(image, enlargement)


def zoomed_panels(panels: list[Panel], roi: Roi, scale: int, size: int, um_per_px: float | None, overlay: bool = False) -> list[Shown]:
    """Every panel at ``roi``, about ``size`` px on its longer side, with a scale bar when the
    pixel size (µm per LR px) is known; captions say where, how enlarged and the bar's length."""
    zoom = display.zoom_factor(roi, scale, size)
    bar = None if um_per_px is None else display.scale_bar(um_per_px / (zoom * scale), roi.width * zoom * scale)
    shown = []
    for panel in panels:
        enlargement = zoom * scale // panel.factor
        image = zoom_panel(panel, roi, enlargement, overlay)
        where = roi.scaled(panel.factor).describe("LR px" if panel.factor == 1 else "SR px")
        scale_note = "" if bar is None else f" · bar {bar[0]:g} µm"
        view = Zoomed(image if bar is None else display.draw_scale_bar(image, bar[1]),
                      f"{panel.title} · {where} · nearest x{enlargement}{scale_note}", panel.colour)
        shown.append(Shown(panel, view, enlargement))
    return shown
