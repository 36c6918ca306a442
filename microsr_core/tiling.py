"""Pure tiling functions: cut an LR image into overlapping tiles, blend SR tiles back.

Tiles are laid out in LR space. Each tile carries ``margin`` LR pixels of context on every
side that touches another tile, and neighbours overlap by ``3·margin``. When blending, each
output pixel is a weighted mean of the tiles covering it, with a weight that is zero within
``margin·scale`` output pixels of a tile's inner edge and ramps up linearly over the next
``margin·scale`` (a cross-fade in the middle of the overlap). For a network whose receptive radius fits inside the
margin the blended result equals the untiled one exactly; for larger receptive fields the ramp
hides the seams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """One tile: LR rows/cols ``[top, bottom) × [left, right)``, with which edges are inner."""

    top: int
    bottom: int
    left: int
    right: int
    inner_top: bool
    inner_bottom: bool
    inner_left: bool
    inner_right: bool


def _starts(length: int, tile: int, margin: int) -> list[int]:
    if tile >= length:
        return [0]
    step = tile - 3 * margin
    if step <= 0:
        raise ValueError(f"tile {tile} must exceed three times the margin {margin}")
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def make_tiles(height: int, width: int, tile: int, margin: int) -> list[Tile]:
    """Overlapping ``tile``×``tile`` windows (clipped to the image) covering an LR image.

    Neighbouring tiles overlap by at least ``3·margin`` pixels: ``margin`` of dead context on
    each side and ``margin`` in the middle where the two are cross-faded.
    """
    tiles = []
    rows = _starts(height, tile, margin)
    cols = _starts(width, tile, margin)
    for top in rows:
        for left in cols:
            bottom, right = min(top + tile, height), min(left + tile, width)
            tiles.append(Tile(top, bottom, left, right, top > 0, bottom < height, left > 0, right < width))
    return tiles


def _ramp(length: int, inner_start: bool, inner_end: bool, dead: int, ramp: int) -> np.ndarray:
    """Weights along one axis: 0 for ``dead`` pixels at an inner edge, then a linear ramp."""
    index = np.arange(length, dtype=np.float64)
    weight = np.ones(length)
    if inner_start:
        weight = np.minimum(weight, np.clip((index - dead + 1) / (ramp + 1), 0, 1))
    if inner_end:
        weight = np.minimum(weight, np.clip((length - index - dead) / (ramp + 1), 0, 1))
    return weight


def tile_weights(tile: Tile, scale: int, margin: int) -> np.ndarray:
    """(H·s, W·s) blending weights of one tile's output."""
    dead = margin * scale  # output pixels the zero padding at an inner edge may have touched
    ramp = max(1, margin * scale)
    rows = _ramp((tile.bottom - tile.top) * scale, tile.inner_top, tile.inner_bottom, dead, ramp)
    cols = _ramp((tile.right - tile.left) * scale, tile.inner_left, tile.inner_right, dead, ramp)
    return np.outer(rows, cols).astype(np.float32)


class Blender:
    """Accumulates weighted SR tiles into full-size outputs, then normalises.

    ``outputs`` maps a name (``"sr"``, a map name) to its channel count; arrays are allocated
    lazily at (H·s, W·s, C) float32.
    """

    def __init__(self, height: int, width: int, scale: int, margin: int):
        self.shape = (height * scale, width * scale)
        self.scale = scale
        self.margin = margin
        self.sums: dict[str, np.ndarray] = {}
        self.weight = np.zeros(self.shape, dtype=np.float32)

    def add(self, tile: Tile, arrays: dict[str, np.ndarray]) -> None:
        s = self.scale
        weights = tile_weights(tile, s, self.margin)
        window = (slice(tile.top * s, tile.bottom * s), slice(tile.left * s, tile.right * s))
        self.weight[window] += weights
        for name, array in arrays.items():
            if name not in self.sums:
                self.sums[name] = np.zeros(self.shape + (array.shape[2],), dtype=np.float32)
            self.sums[name][window] += array * weights[:, :, None]

    def result(self) -> dict[str, np.ndarray]:
        """Blended arrays; the accumulators are normalised in place (no copy)."""
        for array in self.sums.values():
            array /= self.weight[:, :, None]
        return self.sums
