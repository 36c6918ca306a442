"""Pure functions behind the comparison app: regions of interest, honest zoom, references,
LR consistency, parsing-map overlays, colour maps and the result ZIP.

Nothing here imports streamlit or torch; every function takes and returns NumPy arrays in the
MicroSR image contract (float32 (H, W, 3) RGB in [0, 1], rows first) or plain data, so the app's
behaviour can be tested without a browser.

Coordinates: a :class:`Roi` is given in LR pixels (row, column, height, width). A panel whose
image is ``factor`` times larger than the LR image (the SR results and the HR reference:
``factor = scale``) shows the same region at ``factor`` times the coordinates, so all panels show
the same place.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import math
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .align import Alignment, align_reference
from .errors import AlignmentError
from .degrade import Degradation, imresize
from .color import rgb_to_y
from .metrics import DATA_RANGE, masked_psnr_y, masked_ssim_y, measure, psnr_y, ssim_y, stain_fidelity
from .parsing import BACKGROUND, CLASSES as PARSING_CLASSES, COLOURS as PARSING_COLOURS

#: LR pixels shaved from every side before the LR-consistency PSNR (the bicubic kernel's reach).
CONSISTENCY_BORDER = 2

#: Smallest side (in the compared images' pixels) on which SSIM's 11×11 window can be computed.
MIN_SSIM_SIDE = 11


@dataclass(frozen=True)
class Roi:
    """A rectangle in LR pixels: rows ``[row, row + height)``, columns ``[col, col + width)``."""

    row: int
    col: int
    height: int
    width: int

    def clamp(self, shape: Sequence[int]) -> "Roi":
        """The same rectangle moved and shrunk to fit inside an image of ``shape`` (H, W, ...)."""
        rows, cols = int(shape[0]), int(shape[1])
        height = int(min(max(self.height, 1), rows))
        width = int(min(max(self.width, 1), cols))
        row = int(min(max(self.row, 0), rows - height))
        col = int(min(max(self.col, 0), cols - width))
        return Roi(row, col, height, width)

    def scaled(self, factor: int) -> "Roi":
        """The rectangle in the pixels of an image ``factor`` times larger than the LR image."""
        return Roi(self.row * factor, self.col * factor, self.height * factor, self.width * factor)

    def slices(self) -> tuple[slice, slice]:
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)

    def intersect(self, other: "Roi") -> "Roi | None":
        """The overlap of two rectangles, or ``None`` when they do not overlap."""
        top, left = max(self.row, other.row), max(self.col, other.col)
        bottom = min(self.row + self.height, other.row + other.height)
        right = min(self.col + self.width, other.col + other.width)
        if bottom <= top or right <= left:
            return None
        return Roi(top, left, bottom - top, right - left)

    def describe(self, unit: str = "LR px") -> str:
        return f"rows {self.row}-{self.row + self.height}, cols {self.col}-{self.col + self.width} ({unit})"


def default_roi(shape: Sequence[int], size: int = 48) -> Roi:
    """A square of side ``size`` (or the whole image when smaller) at the image centre."""
    side = min(size, int(shape[0]), int(shape[1]))
    return Roi((int(shape[0]) - side) // 2, (int(shape[1]) - side) // 2, side, side)


def roi_from_box(x_range: Sequence[float], y_range: Sequence[float], shape: Sequence[int]) -> Roi:
    """A ROI from a box drawn on an overview whose axes are LR pixel centres (x = column, y = row).

    The ROI holds every pixel whose centre lies inside the box, cut to the image; a box too
    small to hold a centre gives the one pixel nearest to its middle.
    """
    def span(low: float, high: float, length: int) -> tuple[int, int]:
        low, high = sorted((float(low), float(high)))
        first, end = max(math.ceil(low), 0), min(math.floor(high) + 1, length)
        if end <= first:
            first = min(max(round((low + high) / 2), 0), length - 1)
            end = first + 1
        return first, end - first

    row, height = span(*y_range, int(shape[0]))
    col, width = span(*x_range, int(shape[1]))
    return Roi(row, col, height, width)


def nearest_zoom(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge by an integer ``factor`` repeating each pixel (no interpolation: pixels stay honest)."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"zoom factor must be >= 1, got {factor}")
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def crop(image: np.ndarray, roi: Roi, factor: int = 1, offset: tuple[int, int] = (0, 0), fill: float = 0.5) -> np.ndarray:
    """Cut ``roi`` (LR px) out of an image ``factor`` times larger than the LR image.

    ``offset`` is the position of the image's top-left pixel in the enlarged canvas (for an HR
    reference that covers only part of the field). Pixels outside the image are ``fill``.
    """
    box = roi.scaled(factor)
    out = np.full((box.height, box.width) + image.shape[2:], fill, dtype=np.float32)
    top, left = box.row - offset[0], box.col - offset[1]
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom = min(top + box.height, image.shape[0])
    src_right = min(left + box.width, image.shape[1])
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top : src_bottom - top, src_left - left : src_right - left] = image[src_top:src_bottom, src_left:src_right]
    return out


def zoom_factor(roi: Roi, scale: int, target: int) -> int:
    """Integer enlargement of an SR-resolution crop so that its longer side is about ``target``.

    The LR panel is enlarged by ``zoom_factor * scale`` so that every panel has the same size.
    """
    side = max(roi.height, roi.width) * scale
    return max(1, round(target / side))


def draw_box(image: np.ndarray, roi: Roi, color: Sequence[float] = (1.0, 0.85, 0.0), thickness: int = 2) -> np.ndarray:
    """A copy of ``image`` with the outline of ``roi`` (in its own pixels) drawn in ``color``."""
    out = np.array(image, dtype=np.float32, copy=True)
    roi = roi.clamp(out.shape)
    t = max(1, min(thickness, roi.height, roi.width))
    r0, c0 = roi.row, roi.col
    r1, c1 = roi.row + roi.height, roi.col + roi.width
    rgb = np.asarray(color, dtype=np.float32)
    out[r0 : r0 + t, c0:c1] = rgb
    out[r1 - t : r1, c0:c1] = rgb
    out[r0:r1, c0 : c0 + t] = rgb
    out[r0:r1, c1 - t : c1] = rgb
    return out


def scale_bar(um_per_px: float, width: int, fraction: float = 0.25) -> tuple[float, int]:
    """The scale bar for an image ``width`` px wide whose pixels are ``um_per_px`` µm: the
    largest length of 1, 2 or 5 × 10^k µm that fits in ``fraction`` of the width.

    Returns ``(length in µm, length in px)``; the pixel length is rounded, at least 1.
    """
    if not (um_per_px > 0 and width > 0):
        raise ValueError(f"scale bar needs a positive pixel size and width, got {um_per_px} µm/px and {width} px")
    limit = width * fraction * um_per_px
    exponent = math.floor(math.log10(limit))
    length = next(m * 10.0**exponent for m in (5, 2, 1) if m * 10.0**exponent <= limit * (1 + 1e-9))
    length = float(f"{length:.12g}")  # 0.1 * 5 is 0.5, not 0.5000000000000001
    return length, max(1, round(length / um_per_px))


def draw_scale_bar(image: np.ndarray, length: int, colour: Sequence[float] = (1.0, 1.0, 1.0),
                   outline: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A copy of ``image`` with a bar ``length`` px long at its bottom left: ``colour`` with a
    one-pixel ``outline`` so it shows on any stain."""
    out = np.array(image, dtype=np.float32, copy=True)
    height, width = out.shape[:2]
    thick, margin = max(2, height // 64), max(2, width // 32)
    bottom, left = height - margin, margin
    right = min(left + int(length), width - 1)
    out[bottom - thick - 1 : bottom + 1, left - 1 : right + 1] = np.asarray(outline, dtype=np.float32)
    out[bottom - thick : bottom, left:right] = np.asarray(colour, dtype=np.float32)
    return out


def region_in_um(roi: Roi, um_per_px: float) -> str:
    """The size and place of ``roi`` (LR px) in µm, for LR pixels of ``um_per_px`` µm."""
    def um(value: int) -> str:
        return f"{value * um_per_px:.3g}"

    return f"{um(roi.height)} x {um(roi.width)} µm (height x width), top-left at row {um(roi.row)} µm, col {um(roi.col)} µm"


def wipe(before: np.ndarray, after: np.ndarray, position: float, line: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Before/after view: columns left of ``position`` (0..1) from ``before``, the rest from ``after``.

    Both images must have the same shape; a one-pixel line marks the split.
    """
    if before.shape != after.shape:
        raise ValueError(f"before/after images differ in shape: {before.shape} vs {after.shape}")
    width = before.shape[1]
    split = int(round(min(max(position, 0.0), 1.0) * width))
    out = np.array(after, dtype=np.float32, copy=True)
    out[:, :split] = before[:, :split]
    if 0 < split < width:
        out[:, split - 1 : split + 1] = np.asarray(line, dtype=np.float32)
    return out


# Anchor colours (RGB 0..1) of perceptually ordered maps, sampled from matplotlib's magma and
# viridis; intermediate values are interpolated linearly.
_COLORMAPS = {
    "magma": [(0.001, 0.000, 0.014), (0.232, 0.060, 0.438), (0.550, 0.161, 0.506), (0.868, 0.288, 0.409), (0.994, 0.624, 0.427), (0.987, 0.991, 0.750)],
    "viridis": [(0.267, 0.005, 0.329), (0.231, 0.322, 0.545), (0.128, 0.567, 0.551), (0.369, 0.789, 0.383), (0.993, 0.906, 0.144)],
}


def colormap(values: np.ndarray, vmin: float, vmax: float, name: str = "magma") -> np.ndarray:
    """Map a 2-D array to RGB float32 in [0, 1] with a perceptual colour map (NaN -> grey)."""
    anchors = np.asarray(_COLORMAPS[name], dtype=np.float32)
    span = vmax - vmin if vmax > vmin else 1.0
    t = np.clip((np.asarray(values, dtype=np.float32) - vmin) / span, 0.0, 1.0)
    nan = np.isnan(t)
    t = np.where(nan, 0.0, t) * (len(anchors) - 1)
    low = np.minimum(np.floor(t).astype(int), len(anchors) - 2)
    frac = (t - low)[..., None]
    rgb = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    rgb[nan] = 0.5
    return rgb.astype(np.float32)


def shrink_for_display(image: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """Block-average by the smallest integer factor that brings the longer side to ``max_side``.

    Returns ``(image, factor)``; for display only (numbers are always computed at full size).
    """
    factor = max(1, math.ceil(max(image.shape[:2]) / max_side))
    if factor == 1:
        return image, 1
    rows, cols = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    blocks = image[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor, *image.shape[2:])
    return blocks.mean(axis=(1, 3)).astype(np.float32), factor


#: Method colours, one per method in the order given (Okabe & Ito's colour-blind-safe palette,
#: without its yellow, which marks the region of interest); the bicubic baseline is grey.
METHOD_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000")
BASELINE = "bicubic"
BASELINE_COLOUR = "#8c8c8c"

#: The precision of evaluate reports written before they recorded one (all ran in float32).
INFERENCE_PRECISION = "fp32"


def method_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per method name: grey for the bicubic baseline, the palette in order for the
    rest (cycling past its end). Pass every method that can be shown, in a fixed order (the
    registry's), so a method keeps its colour whichever others are selected."""
    others = [name for name in names if name != BASELINE]
    colours = {name: METHOD_PALETTE[index % len(METHOD_PALETTE)] for index, name in enumerate(others)}
    return {name: BASELINE_COLOUR if name == BASELINE else colours[name] for name in names}


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


def image_hash(*parts: bytes | str | np.ndarray) -> str:
    """A short content hash identifying an input (file bytes, settings, pixels)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str(part.shape).encode() + str(part.dtype).encode())
            part = np.ascontiguousarray(part).tobytes()
        elif isinstance(part, str):
            part = part.encode()
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


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
    NCC (:func:`microsr_core.align.align_reference`) at ratio ``scale``; if that match is
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
    """:func:`microsr_core.metrics.measure` and :func:`~microsr_core.metrics.stain_fidelity` of an
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


def lr_consistency(sr: np.ndarray, lr: np.ndarray, degradation: Degradation) -> Consistency:
    """Degrade ``sr`` the way ``lr`` was made (blur/downscale only, no noise, no rounding) and
    compare with ``lr``: detail a method invented shows up as a mismatch."""
    plain = Degradation(kind=degradation.kind, scale=degradation.scale, quantize=False)
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


def parsing_labels(parsing: np.ndarray) -> np.ndarray:
    """Class label per pixel of a parsing map: argmax over channels of an (H, W, C) map of
    scores (for the prior network: :data:`microsr_core.parsing.CLASSES` order), or the rounded
    values of a one-channel map of labels."""
    parsing = np.asarray(parsing)
    if parsing.ndim == 2 or parsing.shape[2] == 1:
        return np.rint(parsing.reshape(parsing.shape[:2])).astype(np.int64)
    return np.argmax(parsing, axis=2).astype(np.int64)


def parsing_classes(parsing: np.ndarray, names: Sequence[str] | None = None) -> list[str]:
    """Names of the classes of a parsing map: ``names`` when given, the prior network's
    :data:`~microsr_core.parsing.CLASSES` for a map with that many channels, else ``class k``."""
    if names:
        return list(names)
    channels = 1 if parsing.ndim == 2 else parsing.shape[2]
    if channels == len(PARSING_CLASSES):
        return list(PARSING_CLASSES)
    count = int(parsing_labels(parsing).max()) + 1 if channels == 1 else channels
    return [f"class {k}" for k in range(count)]


def parsing_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45,
                    colours: np.ndarray = PARSING_COLOURS, transparent: Sequence[int] = (BACKGROUND,)) -> np.ndarray:
    """Blend class colours (the paper's: nucleus blue, cytoplasm red) over ``image``; classes in
    ``transparent`` (the background) are left as they are. Both share height and width."""
    labels = np.asarray(labels).astype(np.int64)
    colours = np.asarray(colours, dtype=np.float32)
    tint = colours[np.mod(labels, len(colours))]
    weight = np.where(np.isin(labels, list(transparent)), 0.0, alpha)[..., None].astype(np.float32)
    return ((1 - weight) * image + weight * tint).astype(np.float32)


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


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    return value


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV text of a list of flat dicts (columns in first-seen order)."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _clean(row.get(key)) for key in columns})
    return buffer.getvalue()


def build_zip(images: dict[str, bytes], rows: list[dict[str, Any]], settings: dict[str, Any]) -> bytes:
    """A ZIP of lossless images (``name -> PNG bytes``), ``metrics.csv``, ``metrics.json`` and
    ``settings.json`` (conventions, degradation, devices, versions: what is needed to redo it)."""
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in images.items():
            archive.writestr(name, data)
        archive.writestr("metrics.csv", rows_to_csv(rows))
        archive.writestr("metrics.json", json.dumps([{k: _clean(v) for k, v in row.items()} for row in rows], indent=2) + "\n")
        archive.writestr("settings.json", json.dumps({k: _clean(v) for k, v in settings.items()}, indent=2, default=str) + "\n")
    return buffer.getvalue()
