"""What a comparison came to: the :class:`Outcome` of the methods' results on one image.

:func:`compute_outcome` measures everything the Compare page shows once there are results (one
metrics row per method, the per-class table, the maps, the gains over bicubic) and keeps what the
page showed of the zoom grid, so that the page's views only draw it and the downloads
(:mod:`.downloads`) and the report (:mod:`.html_report`) are built from the same value.

Nothing here imports streamlit: the caller passes the cache of derived values (the app keeps one
per user in its session; a plain call computes everything once).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from . import assess, compare, display
from .compare import Reference
from .inputs import Inputs, Settings, result_key
from ..errors import AlignmentError
from ..imaging.metrics import STAIN_CONVENTION, convention, error_map_y, ssim_map_y
from ..imaging.parsing import parsing_classes, parsing_labels
from ..imaging.roi import Roi
from ..imaging.segment import agreement, segment
from ..models.inference import SRResult
from ..models.serving import TOLERANCE_DB
from ..models.registry import method_class

#: The cache of derived values: ``cache(key, compute)`` returns the value kept under ``key`` or
#: computes, keeps and returns it.
Cache = Callable[[tuple, Callable[[], Any]], Any]

ERROR_RANGE = 20.0  # |ΔY| in 8-bit levels mapped to the top of the error colour map
CONSISTENCY_RANGE = 10.0
MAP_SIDE = 384  # longest side of a map as displayed (maps are computed at full size)
MAPS_CAPTION = ("Maps are computed at full resolution and block-averaged (or enlarged by whole pixels) for display; "
                "bright = large error or high SSIM, on the range of each column's colour bar.")
#: The per-class table's metrics and their digits.
CLASS_DIGITS = {"PSNR-Y (dB)": 3, "SSIM-Y": 4}


def compute_now(key: tuple, compute: Callable[[], Any]) -> Any:
    """No cache: compute every value (tests, scripts)."""
    return compute()


@dataclass(frozen=True)
class Zoomed:
    """An image as shown on the page (a zoom panel with its scale bar, a map, a colour bar), its caption and colour."""

    image: np.ndarray
    caption: str
    colour: str | None


@dataclass(frozen=True)
class GainChart:
    """One subplot of the gains chart: the metric, its title, digits, and the least half-height of
    its axis (ΔE00: 1, the just-noticeable colour difference, so that -0.01 looks as small as it is)."""

    metric: str
    title: str
    digits: int
    min_span: float = 0.0


GAIN_CHARTS = (GainChart("psnr_y", "PSNR-Y gain over bicubic (dB)", 2), GainChart("ssim_y", "SSIM-Y gain over bicubic", 4),
               GainChart("delta_e_mean", "ΔE00 mean change vs bicubic<br>(below 0: truer colour; 1 = just noticeable)", 2, 1.0))
GAINS_CAPTION = ("Bars: each method minus Bicubic on the same pixels (0 = as good as bicubic), PSNR-Y in dB, SSIM-Y and the "
                 "mean CIEDE2000 ΔE00 as differences, same conventions as the table; the absolute values are in the table. "
                 "The ΔE00 axis spans at least ±1, the just-noticeable difference.")


@dataclass(frozen=True)
class MapKind:
    """One column of the maps: what it shows, its colour map and value range."""

    name: str
    colours: str
    low: float
    high: float

    def bar_caption(self) -> str:
        return f"{self.name}: {self.low:g} (dark) to {self.high:g} (bright)"


@dataclass(frozen=True)
class Maps:
    """The maps of every method as displayed (MAP_SIDE px wide): a colour bar per column, then one
    row per method (LR consistency; with a reference, error and SSIM against it)."""

    kinds: tuple[MapKind, ...]
    bars: tuple[Zoomed, ...]
    rows: tuple[tuple[Zoomed, ...], ...]

    def shown(self) -> list[Zoomed]:
        """Colour bars first, then each method's row: the page's order."""
        return [*self.bars, *(view for row in self.rows for view in row)]


@dataclass(frozen=True)
class ClassTable:
    """Per-class PSNR/SSIM from one method's parsing map: one row per method (its title under
    ``"method"``), a column ``"<class> <metric>"`` per class and metric of :data:`CLASS_DIGITS`."""

    names: tuple[str, ...]
    rows: list[dict[str, Any]]
    caption: str


@dataclass(frozen=True)
class Outcome:
    """The methods' results on one image and everything measured of them.

    ``rows`` has one metrics row per method (weights provenance, timing, LR consistency, the
    verdict without HR; with a reference PSNR/SSIM, stain fidelity, clinical agreement and the
    region's metrics); ``classes`` is the per-class table (a reference and a parsing map needed);
    ``panels`` is the zoom grid as the page showed it (title -> view) and ``region_maps`` the maps
    it drew under the panels.
    """

    inputs: Inputs
    results: dict[str, SRResult]
    reference: Reference | None
    roi: Roi
    settings: Settings
    rows: list[dict[str, Any]]
    maps: Maps
    classes: ClassTable | None = None
    panels: dict[str, Zoomed] = field(default_factory=dict)
    region_maps: tuple[Zoomed, ...] = ()

    @property
    def gains(self) -> dict[str, dict[str, float]]:
        """Each method's metrics of :data:`GAIN_CHARTS` (whole image and ``roi_``) minus Bicubic's; empty
        without Bicubic or without a reference (nothing to measure them against)."""
        if self.reference is None:
            return {}
        return compare.gains_over_baseline(self.rows, [prefix + chart.metric for chart in GAIN_CHARTS for prefix in ("", "roi_")])

    def inconsistent_with_the_lr(self) -> dict[str, float]:
        """{method: dB below Bicubic} of the methods whose result reproduces the LR far worse than
        Bicubic's (:func:`~microsr_core.comparison.compare.inconsistent_with_the_lr`)."""
        return compare.inconsistent_with_the_lr({row["method"]: row["lr_consistency_psnr_y"] for row in self.rows})

    def shown_maps(self) -> list[Zoomed]:
        """Every map the page drew, in page order: the maps section, then those under the panels."""
        return self.maps.shown() + list(self.region_maps)


def compute_outcome(inputs: Inputs, results: dict[str, SRResult], reference: Reference | None, roi: Roi, settings: Settings, *,
                    verdicts: dict[str, dict] | None = None, panels: dict[str, Zoomed] | None = None,
                    region_maps: tuple[Zoomed, ...] | list[Zoomed] = (), cache: Cache = compute_now) -> Outcome:
    """Measure ``results`` on ``inputs`` (against ``reference`` where there is one).

    ``verdicts`` (method -> :func:`~microsr_core.comparison.assess.verdicts`'s row) go into the
    metrics rows; ``panels`` and ``region_maps`` are what the page drew of the zoom grid; every
    value derived from a result is looked up in ``cache`` under a key naming the result's weights.
    """
    rows = metric_rows(inputs, results, reference, roi, settings, cache)
    for row in rows:
        verdict = (verdicts or {}).get(row["method"])
        if verdict is not None:
            row.update({"verdict": assess.verdict_label(verdict), "verdict_reason": verdict["reason"],
                        "expected_gain_db": verdict["expected_gain_db"], "interval_db": verdict["interval_db"]})
    classes = None if reference is None else class_table(inputs, results, reference, settings, cache)
    return Outcome(inputs, results, reference, roi, settings, rows, map_grid(inputs, results, reference, settings, cache),
                   classes, dict(panels or {}), tuple(region_maps))


def matched_reference(inputs: Inputs, scale: int, cache: Cache = compute_now) -> Reference | str | None:
    """The HR reference matched to the LR image (:func:`~.compare.match_reference`, looked up in
    ``cache``), why it could not be (the message, a ``str``), or ``None`` without a reference."""
    if inputs.reference is None:
        return None

    def compute():
        try:
            return compare.match_reference(inputs.lr, inputs.reference, scale)
        except AlignmentError as exc:
            return str(exc)

    return cache(("reference", inputs.key, inputs.reference_key, scale), compute)


def result_labels(result: SRResult) -> np.ndarray | None:
    """The labels of a result's parsing map (``None`` without one)."""
    if "parsing" not in result.maps:
        return None
    return parsing_labels(result.maps["parsing"])


def _consistency(inputs: Inputs, settings: Settings, method: str, result: SRResult, cache: Cache) -> compare.Consistency:
    key = ("consistency", inputs.degradation) + result_key(inputs, settings, method)
    return cache(key, lambda: compare.lr_consistency(result.image, inputs.lr, inputs.degradation))


def metric_rows(inputs: Inputs, results: dict[str, SRResult], reference: Reference | None, roi: Roi, settings: Settings,
                cache: Cache = compute_now) -> list[dict]:
    """One row per method: the weights that computed it (their provenance), timing, LR
    consistency and (with a reference) PSNR/SSIM."""
    rows = []
    for method, result in results.items():
        check = _consistency(inputs, settings, method, result, cache)
        row = {"method": method, "title": settings.titles[method], "weights": result.served.label(), "seconds": result.seconds,
               "device": result.device, "backend": result.backend, "precision": result.precision, "tiles": result.tiles,
               "lr_consistency_psnr_y": check.psnr_y, "lr_consistency_max_abs_dy": check.max_error}
        row.update({key: value for key, value in result.served.provenance().items() if key not in row})
        if reference is not None:
            key = ("metrics", inputs.reference_key) + result_key(inputs, settings, method)
            row.update(cache(key, lambda r=result: compare.reference_metrics(r.image, reference)))
            cells = cache(("cells", inputs.reference_key, settings.scale), lambda: segment(reference.hr))
            row.update(cache(("agreement",) + key, lambda r=result: agreement(compare.sr_window(r.image, reference), reference.hr, cells)))
            region = compare.region_metrics(result.image, reference, roi)
            row.update({f"roi_{name}": value for name, value in region.items()})
        rows.append(row)
    return rows


def class_table(inputs: Inputs, results: dict[str, SRResult], reference: Reference, settings: Settings,
                cache: Cache = compute_now) -> ClassTable | None:
    """Per-class PSNR/SSIM (nucleus, cytoplasm, background) from the first parsing map: one row
    per method, two columns per class (None without a parsing map)."""
    source = next((m for m, r in results.items() if "parsing" in r.maps), None)
    if source is None:
        return None
    names = parsing_classes(results[source].maps["parsing"], getattr(method_class(source), "parsing_classes", None))
    labels = cache(("labels",) + result_key(inputs, settings, source), lambda: result_labels(results[source]))
    rows, shares = [], {}
    for method, result in results.items():
        key = ("classes", source, inputs.reference_key) + result_key(inputs, settings, method)
        values = cache(key, lambda r=result: compare.class_metrics(r.image, reference, labels, names))
        row = {"method": settings.titles[method]}
        for name, value in values.items():
            row[f"{name} PSNR-Y (dB)"], row[f"{name} SSIM-Y"] = value["psnr_y"], value["ssim_y"]
            shares[name] = value["fraction"]  # the same masks for every method
        rows.append(row)
    caption = (f"Per class of the parsing map of {settings.titles[source]} (the same masks for every method; share of the "
               f"pixels: {', '.join(f'{name} {100 * share:.1f} %' for name, share in shares.items())}): "
               f"PSNR-Y in dB and SSIM-Y, {convention(settings.scale)}, averaged over the class's pixels.")
    return ClassTable(tuple(names), rows, caption)


def _map_kinds(ssim_maps: list[np.ndarray]) -> tuple[MapKind, ...]:
    """The three map columns. The SSIM range starts at the 1st percentile over every method's map
    (floored to 0.05), shared by all rows: with 0-1 nearly every pixel of a good result was the
    same yellow."""
    low = min((float(np.nanpercentile(m, 1)) for m in ssim_maps), default=0.0)
    low = max(0.0, min(0.9, math.floor(low / 0.05) * 0.05))
    return (MapKind("LR-consistency |ΔY| (8-bit levels)", "magma", 0.0, CONSISTENCY_RANGE),
            MapKind("|ΔY| vs HR (8-bit levels)", "magma", 0.0, ERROR_RANGE), MapKind("SSIM-Y vs HR", "viridis", low, 1.0))


def _map_image(values: np.ndarray, kind: MapKind) -> np.ndarray:
    shown, _ = display.shrink_for_display(display.colormap(values, kind.low, kind.high, kind.colours), MAP_SIDE)
    return display.nearest_zoom(shown, max(1, MAP_SIDE // max(shown.shape[:2])))


def map_grid(inputs: Inputs, results: dict[str, SRResult], reference: Reference | None, settings: Settings,
             cache: Cache = compute_now) -> Maps:
    """Error and SSIM maps against the reference, and LR-consistency maps, per method, computed at
    full size and drawn MAP_SIDE px wide, each column under its colour bar."""
    maps = {}
    for method, result in results.items():
        maps[method] = [_consistency(inputs, settings, method, result, cache).error_map]
        if reference is not None:
            key = ("maps", inputs.reference_key) + result_key(inputs, settings, method)

            def compute(r=result):
                part = compare.sr_window(r.image, reference)
                return error_map_y(part, reference.hr), ssim_map_y(part, reference.hr)

            maps[method] += list(cache(key, compute))
    kinds = _map_kinds([values[2] for values in maps.values() if len(values) == 3])[:3 if reference is not None else 1]
    bars = tuple(Zoomed(display.colour_bar(kind.colours, MAP_SIDE, 14), f"Colour bar: {kind.bar_caption()}", None) for kind in kinds)
    rows = tuple(tuple(Zoomed(_map_image(value, kind), f"{settings.titles[method]}: {kind.name}", settings.colours[method])
                       for kind, value in zip(kinds, values)) for method, values in maps.items())
    return Maps(kinds, bars, rows)


def settings_record(outcome: Outcome) -> dict:
    """What is needed to redo the comparison, with the conventions of its numbers (the ZIP's
    settings.json; the report's settings, in words); ``created`` is now."""
    inputs, settings, reference = outcome.inputs, outcome.settings, outcome.reference
    maps = {method: result.capture_maps.describe() for method, result in outcome.results.items() if result.capture_maps is not None}
    return {
        "input": inputs.name, "lr_size": list(inputs.lr.shape[:2]), "bit_depth": inputs.bit_depth,
        "lr_origin": inputs.origin, "lr_kind": settings.lr_kind, "scale": settings.scale, "methods": list(outcome.results),
        "weights": {method: result.served.provenance() for method, result in outcome.results.items()},
        **({"capture_maps": maps} if maps else {}),  # what weights reading the capture's noise and blur assumed
        "device_choice": settings.device_choice, "device": settings.device, "tile": settings.tile,
        "precision": "per method in the metrics (auto: bf16 where the CPU runs it faster and the weights' card measured it "
                     f"within {TOLERANCE_DB} dB Y-PSNR of fp32, image-reading convolutions fp32)",
        "roi_lr_px": asdict(outcome.roi), "metrics_convention": convention(settings.scale),
        "roi_metrics": "region of interest where the reference covers it, no border shaved",
        "stain_fidelity": STAIN_CONVENTION + f"; whole image with border {settings.scale} px shaved",
        "lr_consistency": f"SR degraded by {inputs.degradation.noiseless().describe()} (no rounding) vs LR on Y, border {compare.CONSISTENCY_BORDER} LR px",
        "reference": None if reference is None else {"name": inputs.reference_name, "how": reference.describe(), "notes": reference.notes},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
