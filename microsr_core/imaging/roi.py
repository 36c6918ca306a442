"""Regions of interest: rectangles in LR pixels, and how the app's boxes and sizes become them.

A :class:`Roi` is given in LR pixels (row, column, height, width). A panel whose image is
``factor`` times larger than the LR image (the SR results and the HR reference: ``factor =
scale``) shows the same region at ``factor`` times the coordinates, so all panels show the same
place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


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

    def rescaled(self, old_shape: Sequence[int], new_shape: Sequence[int]) -> "Roi":
        """The same place in an image of ``new_shape`` made from the same field as one of
        ``old_shape`` (teaching mode on or off, another scale): coordinates scaled per axis."""
        fy, fx = new_shape[0] / old_shape[0], new_shape[1] / old_shape[1]
        return Roi(round(self.row * fy), round(self.col * fx), max(1, round(self.height * fy)),
                   max(1, round(self.width * fx))).clamp(new_shape)

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


def default_roi(image: np.ndarray, size: int = 48) -> Roi:
    """The square of side ``size`` (or the whole image when smaller) where ``image`` (H, W) or
    (H, W, C) has the most detail: the largest sum of squared gradients of its channel mean.
    Methods differ at edges and texture, not in a flat background or inside one nucleus; a
    flat image gets the centre."""
    rows, cols = int(image.shape[0]), int(image.shape[1])
    side = min(size, rows, cols)
    centre = Roi((rows - side) // 2, (cols - side) // 2, side, side)
    plane = image.mean(axis=2) if image.ndim == 3 else image
    if min(rows, cols) < 2:
        return centre
    gy, gx = np.gradient(plane.astype(np.float64))
    integral = np.pad((gx**2 + gy**2).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    if sums.max() <= 0:
        return centre
    row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return Roi(int(row), int(col), side, side)


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


def region_in_um(roi: Roi, um_per_px: float) -> str:
    """The size and place of ``roi`` (LR px) in µm, for LR pixels of ``um_per_px`` µm."""
    def um(value: int) -> str:
        return f"{value * um_per_px:.3g}"

    return f"{um(roi.height)} x {um(roi.width)} µm (height x width), top-left at row {um(roi.row)} µm, col {um(roi.col)} µm"
