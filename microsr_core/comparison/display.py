"""Display helpers of the comparison app: honest zoom, crops, scale bars, the before/after
wipe, colour maps, and one colour per method.

Pure functions on the MicroSR image contract (float32 (H, W, 3) RGB in [0, 1], rows first); the
numbers shown beside them are always computed at full size (:mod:`microsr_core.comparison.compare`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .compare import BASELINE
from ..imaging.roi import Roi


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


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4, fill: float = 0.09) -> np.ndarray:
    """``left`` and ``right`` in one image, ``gap`` columns of ``fill`` between them (the shorter
    padded at the bottom): shown at the screen's width, two panels stay side by side on a phone,
    where Streamlit stacks columns."""
    height = max(left.shape[0], right.shape[0])

    def padded(image: np.ndarray) -> np.ndarray:
        return np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0)), constant_values=fill)

    return np.concatenate([padded(left), np.full((height, gap, 3), fill, dtype=np.float32), padded(right)], axis=1)


#: The figures of a metrics row as shown per method: (row key, label, format), the key figure of
#: each group first (PSNR-Y against the reference; LR-consistency without one).
REFERENCE_FIGURES = (("psnr_y", "PSNR-Y", "{:.3f} dB"), ("ssim_y", "SSIM-Y", "{:.4f}"), ("delta_e_mean", "ΔE00 mean", "{:.2f}"),
                     ("delta_e_p95", "ΔE00 95th pct", "{:.2f}"), ("psnr_rgb", "PSNR-RGB", "{:.3f} dB"), ("ssim_rgb", "SSIM-RGB", "{:.4f}"),
                     ("roi_psnr_y", "PSNR-Y region", "{:.3f} dB"), ("roi_ssim_y", "SSIM-Y region", "{:.4f}"),
                     ("roi_delta_e_mean", "ΔE00 mean region", "{:.2f}"), ("roi_delta_e_p95", "ΔE00 95th pct region", "{:.2f}"))
RUN_FIGURES = (("verdict", "without HR", "{}"), ("lr_consistency_psnr_y", "LR-consistency PSNR-Y", "{:.2f} dB"), ("lr_consistency_max_abs_dy", "max |ΔY|", "{:.1f} levels"),
               ("seconds", "time", "{:.3f} s"), ("device", "device", "{}"), ("tiles", "tiles", "{}"), ("weights", "weights", "{}"))


def method_figures(row: dict) -> list[tuple[str, str]]:
    """(label, value in words) of every figure of a metrics row that it holds, the key figure first;
    a value that could not be measured (NaN: no pixels of the reference in the region) reads
    "not measured", never "nan"."""
    figures = []
    for key, label, fmt in (REFERENCE_FIGURES if "psnr_y" in row else ()) + RUN_FIGURES:
        value = row.get(key)
        if value is None:
            continue
        missing = isinstance(value, float) and not math.isfinite(value)
        figures.append((label, "not measured" if missing else fmt.format(value)))
    return figures


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


def colour_bar(name: str, width: int, height: int) -> np.ndarray:
    """The colour map ``name`` as a horizontal strip, low values on the left (RGB float32)."""
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    return colormap(ramp, 0.0, 1.0, name)


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
#: Okabe-Ito (colour-blind safe) first, then Paul Tol's "muted" set: 16 methods before a colour repeats
#: (the Benchmarks leaderboard shows a dozen models).
METHOD_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000",
                  "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499")

BASELINE_COLOUR = "#8c8c8c"


def method_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per method name: grey for the bicubic baseline, the palette in order for the
    rest (cycling past its end). Pass every method that can be shown, in a fixed order (the
    registry's), so a method keeps its colour whichever others are selected."""
    others = [name for name in names if name != BASELINE]
    colours = {name: METHOD_PALETTE[index % len(METHOD_PALETTE)] for index, name in enumerate(others)}
    return {name: BASELINE_COLOUR if name == BASELINE else colours[name] for name in names}
