"""What SR results tell about themselves without an HR reference (most clinicians have none).

Every measure compares images the user has: the LR input, each method's result, the bicubic
baseline, and a method's result on a flipped copy of the input (its self-ensemble). They feed
the calibrated verdicts of :mod:`microsr_core.comparison.assess` and the maps beside each panel:

- **self-ensemble spread**: a network that knows what it restores gives the same pixels for a
  flipped input; where flips disagree the detail depends on the network's orientation bias,
  not on the image (Timofte et al. 2016's ensemble, read as an uncertainty);
- **departure from the consensus**: |Y| of a result against the per-pixel median of the other
  methods' results; where it exceeds the LR's noise the method alone says so;
- **chroma change**: |Cb, Cr| of a result against bicubic's: bicubic cannot invent stain colour,
  so colour a method moved is colour it made up (a grey fibre turned nucleus-purple).

Levels are 8-bit grey levels of BT.601 Y or Cb/Cr (:mod:`microsr_core.imaging.color`).
"""

from __future__ import annotations

import numpy as np

from .color import rgb_to_y, rgb_to_ycbcr
from .metrics import DATA_RANGE

#: The dihedral transforms of a self-ensemble, each its own inverse, in the order they are used:
#: ×2 takes the first two, ×4 the first four, ×8 all (EDSR's "+" uses all eight).
TRANSFORMS = (
    ("identity", lambda a: a),
    ("flip left-right", lambda a: a[:, ::-1]),
    ("flip up-down", lambda a: a[::-1]),
    ("rotate 180", lambda a: a[::-1, ::-1]),
    ("transpose", lambda a: a.transpose(1, 0, 2)),
    ("rotate 90", lambda a: a.transpose(1, 0, 2)[:, ::-1]),
    ("rotate 270", lambda a: a.transpose(1, 0, 2)[::-1]),
    ("anti-transpose", lambda a: a[::-1, ::-1].transpose(1, 0, 2)),
)
#: Inverses of :data:`TRANSFORMS` (the rotations by 90 and 270 degrees undo each other).
INVERSES = (
    lambda a: a,
    lambda a: a[:, ::-1],
    lambda a: a[::-1],
    lambda a: a[::-1, ::-1],
    lambda a: a.transpose(1, 0, 2),
    lambda a: a[:, ::-1].transpose(1, 0, 2),
    lambda a: a[::-1].transpose(1, 0, 2),
    lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
)
#: Departures from the consensus up to this many times the LR's noise (at least 1 level) are noise.
NOISE_FACTOR = 3.0


def luma_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|ΔY| per pixel of two RGB images of one shape, in 8-bit levels (float32)."""
    return (np.abs(rgb_to_y(a) - rgb_to_y(b)) * DATA_RANGE).astype(np.float32)


def chroma_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean |Δ(Cb, Cr)| per pixel of two RGB images of one shape, in 8-bit levels (float32)."""
    delta = (rgb_to_ycbcr(a)[..., 1:] - rgb_to_ycbcr(b)[..., 1:]) * DATA_RANGE
    return np.hypot(delta[..., 0], delta[..., 1]).astype(np.float32)


def ensemble_spread(outputs: list[np.ndarray]) -> np.ndarray:
    """Per-pixel standard deviation of Y over a self-ensemble's outputs (each already brought back
    by its inverse transform), in 8-bit levels; zero for a single output."""
    ys = np.stack([rgb_to_y(o) for o in outputs]) * DATA_RANGE
    return ys.std(axis=0).astype(np.float32)


def consensus_departure(results: dict[str, np.ndarray], method: str) -> np.ndarray:
    """|ΔY| per pixel (8-bit levels) of ``results[method]`` against the per-pixel median of the
    other results (all of one shape; with one other result, that result)."""
    others = [rgb_to_y(image) for name, image in results.items() if name != method]
    if not others:
        raise ValueError("a consensus needs at least one other result")
    consensus = np.median(np.stack(others), axis=0)
    return (np.abs(rgb_to_y(results[method]) - consensus) * DATA_RANGE).astype(np.float32)


def disagreement_map(departure: np.ndarray, noise_levels: float) -> np.ndarray:
    """``departure`` where it exceeds :data:`NOISE_FACTOR` × the LR's noise (at least 1 level), 0 elsewhere."""
    threshold = max(NOISE_FACTOR * noise_levels, 1.0)
    return np.where(departure > threshold, departure, 0.0).astype(np.float32)


def central_window(shape: tuple[int, ...], side: int) -> tuple[slice, slice]:
    """The central window of at most ``side`` × ``side`` pixels of an image of ``shape``."""
    rows, cols = min(shape[0], side), min(shape[1], side)
    top, left = (shape[0] - rows) // 2, (shape[1] - cols) // 2
    return slice(top, top + rows), slice(left, left + cols)
