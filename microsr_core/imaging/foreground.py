"""Slide background: which regions of a whole-slide image hold nothing but the bright, flat glass.

A whole slide is mostly empty glass; super-resolving it costs as much as tissue and shows
nothing. The test is made on a low-resolution view (a pyramid's smallest level, or every n-th
pixel), so the full-resolution pixels of an empty region are never read. Thresholds are on
the image contract's [0, 1] scale: brightfield background is near white (stained tissue and
cells absorb at least one channel) and flat (no edges); a region is foreground as soon as a
small share of its pixels is darker or it varies.
"""

from __future__ import annotations

import numpy as np

#: Luminance a background pixel is at least (glass under brightfield is near 1.0).
WHITE = 0.85
#: Largest standard deviation of luminance a background region has.
SPREAD = 0.03
#: Share of pixels that may be darker than :data:`WHITE` in a background region (dust, noise).
DARK_SHARE = 0.01


def is_background(view: np.ndarray, white: float = WHITE, spread: float = SPREAD) -> bool:
    """Whether ``view`` (float (h, w, 3) in [0, 1], any resolution) is slide background: its
    darkest ``DARK_SHARE`` of pixels still at least ``white`` and its luminance within ``spread``."""
    if view.size == 0:
        return False
    luminance = view.mean(axis=2)
    return bool(np.quantile(luminance, DARK_SHARE) >= white and luminance.std() <= spread)


def region_view(thumbnail: np.ndarray, factor: float, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The pixels of ``thumbnail`` (the image shrunk ``factor`` times per side) covering full-size
    ``rows`` × ``cols`` (half-open), grown by one thumbnail pixel so a region's edge is seen."""
    top, bottom = max(0, int(rows[0] / factor) - 1), min(thumbnail.shape[0], int(np.ceil(rows[1] / factor)) + 1)
    left, right = max(0, int(cols[0] / factor) - 1), min(thumbnail.shape[1], int(np.ceil(cols[1] / factor)) + 1)
    return thumbnail[top:bottom, left:right]
