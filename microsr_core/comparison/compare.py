"""What the comparison app measures: an HR reference matched to the LR image, metrics against
it (whole window, region of interest, parsing-map classes), gains over the bicubic baseline and
the LR-consistency check.

Nothing here imports streamlit or torch; every function takes and returns NumPy arrays in the
MicroSR image contract (float32 (H, W, 3) RGB in [0, 1], rows first) or plain data, so the app's
behaviour can be tested without a browser. Regions are :class:`~microsr_core.imaging.roi.Roi` in LR
pixels; the display helpers are in :mod:`microsr_core.comparison.display`, the downloads in
:mod:`microsr_core.comparison.downloads`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..imaging.align import Alignment, align_reference
from ..imaging.color import rgb_to_y
from ..imaging.degrade import Degradation, imresize
from ..errors import AlignmentError
from ..imaging.metrics import DATA_RANGE, masked_psnr_y, masked_ssim_y, measure, psnr_y, ssim_y, stain_fidelity
from ..imaging.roi import Roi


#: LR pixels shaved from every side before the LR-consistency PSNR (the bicubic kernel's reach).
CONSISTENCY_BORDER = 2

#: Smallest side (in the compared images' pixels) on which SSIM's 11×11 window can be computed.
MIN_SSIM_SIDE = 11

#: The method every gain is measured against (the baseline every SR paper reports).
BASELINE = "bicubic"

#: The precision of evaluate reports written before they recorded one (all ran in float32).
INFERENCE_PRECISION = "fp32"


def gains_over_baseline(rows: Sequence[dict[str, Any]], columns: Sequence[str], key: str = "method",
                        baseline: str = BASELINE) -> dict[str, dict[str, float]]:
    """Each non-baseline row's ``columns`` minus the baseline row's, keyed by ``row[key]``.

    Differences of PSNR are in dB, of SSIM in SSIM units; NaN stays NaN. Empty when no row is the
    baseline (``row["method"] == baseline``): a gain needs the baseline on the same image.
    """
    base = next((row for row in rows if row["method"] == baseline), None)
    if base is None:
        return {}
    return {row[key]: {column: float(row[column]) - float(base[column]) for column in columns}
            for row in rows if row["method"] != baseline}


@dataclass
class Reference:
    """An HR reference brought to SR resolution over a window of the LR image.

    ``hr`` is float32 (window.height·scale, window.width·scale, 3): the reference pixels that
    correspond to ``window`` (LR px) of the LR image; ``alignment`` is ``None`` when the
    reference matched the LR size × scale directly.
    """

    hr: np.ndarray
    window: Roi
    scale: int
    mode: str  # "direct" or "aligned"
    alignment: Alignment | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return self.alignment is None or self.alignment.reliable

    def describe(self) -> str:
        if self.alignment is None:
            return f"HR reference used directly: its size is the LR size x{self.scale}"
        return "HR reference aligned by normalised cross-correlation: " + self.alignment.describe()


def match_reference(lr: np.ndarray, hr: np.ndarray, scale: int) -> Reference:
    """Bring an HR reference to the SR grid of ``lr`` at ``scale``.

    When the reference is the LR size × ``scale`` (up to ``scale - 1`` extra rows/columns, as
    left by a crop to a multiple of the scale) it is used directly. Otherwise it is located by
    NCC (:func:`microsr_core.imaging.align.align_reference`) at ratio ``scale``; if that match is
    unreliable the ratio is also estimated freely and the better match kept, the reference then
    being resampled to the SR grid (noted).

    Raises
    ------
    AlignmentError
        When the reference cannot be placed inside the LR image at all.
    """
    rows, cols = lr.shape[:2]
    need = (rows * scale, cols * scale)
    if need[0] <= hr.shape[0] < need[0] + scale and need[1] <= hr.shape[1] < need[1] + scale:
        notes = [] if hr.shape[:2] == need else [f"reference cropped from {hr.shape[1]}x{hr.shape[0]} to {need[1]}x{need[0]}"]
        return Reference(np.ascontiguousarray(hr[: need[0], : need[1]]), Roi(0, 0, rows, cols), scale, "direct", None, notes)
    alignment = align_reference(lr, hr, scale=float(scale))
    notes: list[str] = []
    if not alignment.reliable:
        try:
            free = align_reference(lr, hr)
        except AlignmentError:  # the fixed-ratio match stands; the free search is only a second try
            free = None
        if free is not None and free.peak > alignment.peak:
            notes.append(f"magnification ratio estimated as {free.scale:.3f} (better match than x{scale})")
            alignment = free
    height, width = alignment.height, alignment.width
    if abs(alignment.scale - scale) < 1e-9:
        height, width = min(height, hr.shape[0] // scale), min(width, hr.shape[1] // scale)
        window = Roi(alignment.row, alignment.col, height, width).clamp(lr.shape)
        hr_grid = hr[: window.height * scale, : window.width * scale]
    else:
        window = Roi(alignment.row, alignment.col, height, width).clamp(lr.shape)
        hr_grid = np.clip(imresize(hr, output_shape=(window.height * scale, window.width * scale)), 0.0, 1.0)
        notes.append(f"reference resampled from ratio {alignment.scale:.3f} to the x{scale} SR grid (bicubic)")
    return Reference(np.ascontiguousarray(hr_grid, dtype=np.float32), window, scale, "aligned", alignment, notes)


def sr_window(sr: np.ndarray, reference: Reference) -> np.ndarray:
    """The part of an SR result that the reference covers (same shape as ``reference.hr``)."""
    rows, cols = reference.window.scaled(reference.scale).slices()
    return sr[rows, cols]


def reference_metrics(sr: np.ndarray, reference: Reference) -> dict[str, float]:
    """:func:`microsr_core.imaging.metrics.measure` and :func:`~microsr_core.imaging.metrics.stain_fidelity` of an
    SR result against a reference, over its window (border ``scale`` px shaved)."""
    part = sr_window(sr, reference)
    return measure(part, reference.hr, crop_border=reference.scale) | stain_fidelity(part, reference.hr, reference.scale)


def region_metrics(sr: np.ndarray, reference: Reference, roi: Roi) -> dict[str, float]:
    """PSNR/SSIM on Y and the CIEDE2000 stain fidelity inside the ROI (where the reference covers
    it), no border shaved.

    NaN where the overlap is empty; SSIM NaN when the overlap is under 11 SR pixels a side.
    """
    overlap = roi.intersect(reference.window)
    if overlap is None:
        return {"psnr_y": math.nan, "ssim_y": math.nan, "delta_e_mean": math.nan, "delta_e_p95": math.nan}
    s = reference.scale
    rows, cols = overlap.scaled(s).slices()
    local = Roi(overlap.row - reference.window.row, overlap.col - reference.window.col, overlap.height, overlap.width).scaled(s)
    hr = reference.hr[local.slices()]
    a = sr[rows, cols]
    small = min(a.shape[:2]) < MIN_SSIM_SIDE
    return {"psnr_y": psnr_y(a, hr), "ssim_y": math.nan if small else ssim_y(a, hr)} | stain_fidelity(a, hr)


@dataclass
class Consistency:
    """How well an SR result, degraded like the LR input was made, reproduces the LR input."""

    psnr_y: float
    max_error: float  # largest |ΔY| in 8-bit units
    error_map: np.ndarray  # |ΔY| in 8-bit units, LR size
    degradation: str
    border: int = CONSISTENCY_BORDER

    def convention(self) -> str:
        return (
            f"SR degraded by {self.degradation}, compared with the LR input on Y (BT.601), "
            f"border {self.border} LR px shaved, data range 255"
        )


#: A method whose LR-consistency PSNR is this far below bicubic's changed what the LR shows.
CONSISTENCY_DROP_DB = 6.0


def inconsistent_with_the_lr(consistency_db: dict[str, float], reference: str = "bicubic") -> dict[str, float]:
    """{method: dB below ``reference``} of the methods whose LR-consistency PSNR-Y is more than
    ``CONSISTENCY_DROP_DB`` below that of ``reference`` (empty without it)."""
    if reference not in consistency_db or not np.isfinite(consistency_db[reference]):
        return {}
    base = consistency_db[reference]
    return {m: base - v for m, v in consistency_db.items() if m != reference and base - v > CONSISTENCY_DROP_DB}


def lr_consistency(sr: np.ndarray, lr: np.ndarray, degradation: Degradation) -> Consistency:
    """Degrade ``sr`` the way ``lr`` was made (blur/downscale only, no noise, no rounding) and
    compare with ``lr``: detail a method invented shows up as a mismatch."""
    plain = degradation.noiseless()
    redone = plain.apply(sr)
    if redone.shape != lr.shape:
        raise ValueError(f"degraded SR {redone.shape} does not match the LR input {lr.shape}")
    error = np.abs(rgb_to_y(redone) - rgb_to_y(lr)) * DATA_RANGE
    return Consistency(
        psnr_y=psnr_y(redone, lr, CONSISTENCY_BORDER),
        max_error=float(error.max()),
        error_map=error.astype(np.float32),
        degradation=plain.describe(),
    )


def class_metrics(sr: np.ndarray, reference: Reference, labels: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """PSNR/SSIM on Y per parsing-map class inside the reference window (border ``scale`` shaved).

    ``labels`` is a label image of the full SR result (from :func:`parsing_labels`).
    """
    rows, cols = reference.window.scaled(reference.scale).slices()
    window_labels = labels[rows, cols]
    sr_part = sr_window(sr, reference)
    out = {}
    for index, name in enumerate(names):
        mask = window_labels == index
        out[name] = {
            "psnr_y": masked_psnr_y(sr_part, reference.hr, mask, reference.scale),
            "ssim_y": masked_ssim_y(sr_part, reference.hr, mask, reference.scale),
            "fraction": float(mask.mean()),
        }
    return out
