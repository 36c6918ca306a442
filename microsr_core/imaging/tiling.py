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

import math
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


def _starts(length: int, tile: int, margin: int) -> tuple[list[int], int]:
    """Start offsets and size of the fewest equal tiles of side <= ``tile`` covering ``length``.

    Equal tiles spread evenly keep the overlap near its minimum of ``3·margin``; aligning the
    last tile to the end instead can make two tiles overlap by most of their width.
    """
    if tile >= length:
        return [0], length
    overlap = 3 * margin
    if tile <= overlap + 1:
        raise ValueError(f"tile {tile} must exceed three times the margin {margin}")
    count = math.ceil((length - overlap) / (tile - overlap - 1))
    size = min(tile, math.ceil((length + (count - 1) * overlap) / count) + 1)
    starts = [round(i * (length - size) / (count - 1)) for i in range(count)]
    return starts, size


def make_tiles(height: int, width: int, tile: int, margin: int) -> list[Tile]:
    """Overlapping ``tile``×``tile`` windows (clipped to the image) covering an LR image.

    Neighbouring tiles overlap by at least ``3·margin`` pixels: ``margin`` of dead context on
    each side and ``margin`` in the middle where the two are cross-faded.
    """
    tiles = []
    rows, tile_rows = _starts(height, tile, margin)
    cols, tile_cols = _starts(width, tile, margin)
    for top in rows:
        for left in cols:
            bottom, right = top + tile_rows, left + tile_cols
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
    """Accumulates weighted SR tiles into full-size outputs in bounded memory.

    Tiles must arrive in the row-major order of :func:`make_tiles`. Only a band of output rows
    (those the current row of tiles can still touch) is kept in float32 accumulators; rows no
    later tile reaches are normalised, clipped to [0, 1] and written into the output arrays of
    ``dtype`` (float32, float16 or uint8, the last two for images too large for float32).
    """

    def __init__(self, height: int, width: int, scale: int, margin: int, dtype=np.float32):
        self.shape = (height * scale, width * scale)
        self.scale = scale
        self.margin = margin
        self.dtype = np.dtype(dtype)
        self.outputs: dict[str, np.ndarray] = {}
        self.band_top = 0
        self.sums: dict[str, np.ndarray] = {}
        self.weight = np.zeros((0, self.shape[1]), dtype=np.float32)

    def _flush(self, until: int) -> None:
        """Finalise output rows [band_top, until)."""
        rows = until - self.band_top
        if rows <= 0:
            return
        weight = self.weight[:rows, :, None]
        for name, sums in self.sums.items():
            values = np.clip(sums[:rows] / weight, 0.0, 1.0)
            if self.dtype == np.uint8:
                values = np.round(values * 255.0)
            self.outputs[name][self.band_top : until] = values
            self.sums[name] = sums[rows:]
        self.weight = self.weight[rows:]
        self.band_top = until

    def _grow(self, bottom: int, arrays: dict[str, np.ndarray]) -> None:
        """Extend the band down to output row ``bottom``; create outputs on first use."""
        extra = bottom - self.band_top - self.weight.shape[0]
        for name, array in arrays.items():
            if name not in self.outputs:
                self.outputs[name] = np.zeros(self.shape + (array.shape[2],), dtype=self.dtype)
                self.sums[name] = np.zeros((self.weight.shape[0], self.shape[1], array.shape[2]), np.float32)
        if extra > 0:
            self.weight = np.concatenate([self.weight, np.zeros((extra, self.shape[1]), np.float32)])
            for name, sums in self.sums.items():
                self.sums[name] = np.concatenate([sums, np.zeros((extra,) + sums.shape[1:], np.float32)])

    def add(self, tile: Tile, arrays: dict[str, np.ndarray]) -> None:
        s = self.scale
        self._flush(tile.top * s)
        self._grow(tile.bottom * s, arrays)
        weights = tile_weights(tile, s, self.margin)
        rows = slice(tile.top * s - self.band_top, tile.bottom * s - self.band_top)
        cols = slice(tile.left * s, tile.right * s)
        self.weight[rows, cols] += weights
        for name, array in arrays.items():
            self.sums[name][rows, cols] += array * weights[:, :, None]

    def result(self) -> dict[str, np.ndarray]:
        """The blended arrays (after the last tile)."""
        self._flush(self.shape[0])
        return self.outputs


@dataclass(frozen=True)
class Block:
    """One block of a fixed grid, for images processed block by block by separate tasks.

    ``core`` is the block's own LR rows/cols (its output lands in one output chunk, aligned to
    the grid times the scale); ``window`` is the core grown by ``margin`` LR pixels on every
    side that has a neighbour, clipped to the image: the context that makes the core's output
    equal the untiled one (the same margin, and so the same exactness, as :func:`make_tiles`).
    """

    row: int
    col: int
    core: Tile
    window: Tile

    def core_in_window(self, scale: int) -> tuple[slice, slice]:
        """Output rows and columns of the core inside the window's SR output."""
        top, left = (self.core.top - self.window.top) * scale, (self.core.left - self.window.left) * scale
        return (slice(top, top + (self.core.bottom - self.core.top) * scale),
                slice(left, left + (self.core.right - self.core.left) * scale))


def block_grid(height: int, width: int, block: int, margin: int) -> list[Block]:
    """The ``block``×``block`` grid over an LR image (the last row and column may be smaller),
    row-major, each block with its ``margin``-wide window."""
    if block < 1:
        raise ValueError(f"block must be positive, got {block}")
    blocks = []
    for row, top in enumerate(range(0, height, block)):
        for col, left in enumerate(range(0, width, block)):
            bottom, right = min(top + block, height), min(left + block, width)
            core = Tile(top, bottom, left, right, top > 0, bottom < height, left > 0, right < width)
            window = Tile(max(0, top - margin), min(height, bottom + margin), max(0, left - margin), min(width, right + margin),
                          top > 0, bottom < height, left > 0, right < width)
            blocks.append(Block(row, col, core, window))
    return blocks
