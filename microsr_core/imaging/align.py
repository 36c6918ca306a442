"""Locating an HR reference inside an LR image by normalised cross-correlation (NCC).

Ayas & Ekinci (2019, §3.1) pair images taken with different objectives this way: both are
turned to grayscale, the HR image is bicubic-downsampled by the magnification ratio ``s`` to
make a template, and the template is slid over the LR image; the NCC maximum (eq. 2) is the
match. scikit-image's :func:`~skimage.feature.match_template` computes eq. (2).

When ``s`` is unknown it is estimated by trying a geometric range of ratios and refining around
the best one. A peak below :data:`RELIABLE_PEAK` is reported as unreliable, never silently used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.feature import match_template

from .color import rgb_to_y
from .degrade import imresize
from ..errors import AlignmentError

#: NCC peak below which a match is called unreliable. Correct matches of our test pairs
#: (BCCD fields, bicubic-downsampled) peak above 0.95; unrelated fields of the same stain
#: peak around 0.3-0.6.
RELIABLE_PEAK = 0.8

#: Default search range of the magnification ratio when it is not given.
SCALE_RANGE = (1.25, 10.0)


@dataclass(frozen=True)
class Alignment:
    """Where an HR reference lies in an LR image.

    ``row``/``col`` are the LR coordinates of the template's top-left corner, ``height`` and
    ``width`` its LR size, ``scale`` the HR/LR magnification ratio, ``peak`` the NCC maximum.
    """

    row: int
    col: int
    height: int
    width: int
    scale: float
    peak: float
    reliable: bool

    def describe(self) -> str:
        verdict = "reliable" if self.reliable else f"UNRELIABLE (peak below {RELIABLE_PEAK})"
        return (
            f"offset row {self.row}, col {self.col} (LR pixels); region {self.width}x{self.height}; "
            f"scale {self.scale:.3f}; correlation peak {self.peak:.3f}: {verdict}"
        )


def _gray(image: np.ndarray) -> np.ndarray:
    return rgb_to_y(image) if image.ndim == 3 else image.astype(np.float32)


def _match(lr_gray: np.ndarray, hr_gray: np.ndarray, scale: float) -> tuple[float, int, int, int, int] | None:
    th, tw = round(hr_gray.shape[0] / scale), round(hr_gray.shape[1] / scale)
    if th < 8 or tw < 8 or th > lr_gray.shape[0] or tw > lr_gray.shape[1]:
        return None
    template = imresize(hr_gray, output_shape=(th, tw))
    ncc = match_template(lr_gray, template)
    row, col = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    return float(ncc[row, col]), int(row), int(col), th, tw


def align_reference(
    lr: np.ndarray,
    hr: np.ndarray,
    scale: float | None = None,
    *,
    scale_range: tuple[float, float] = SCALE_RANGE,
    threshold: float = RELIABLE_PEAK,
) -> Alignment:
    """Find ``hr`` (a smaller field at higher magnification) inside ``lr``.

    Parameters
    ----------
    lr, hr : ndarray, (H, W, 3) or (H, W), values in [0, 1]
    scale : float, optional
        HR/LR magnification ratio; estimated within ``scale_range`` when omitted.

    Returns
    -------
    Alignment

    Raises
    ------
    AlignmentError
        When the downsampled reference does not fit inside the LR image at any tried scale.
    """
    lr_gray, hr_gray = _gray(lr), _gray(hr)
    if scale is not None:
        if scale <= 0:
            raise AlignmentError(f"magnification ratio must be positive, got {scale}")
        found = _match(lr_gray, hr_gray, scale)
        if found is None:
            raise AlignmentError(
                f"the HR reference ({hr.shape[1]}x{hr.shape[0]}) downsampled by {scale:g} does not fit inside "
                f"the LR image ({lr.shape[1]}x{lr.shape[0]}), or is too small to match"
            )
        peak, row, col, th, tw = found
        return Alignment(row, col, th, tw, float(scale), peak, peak >= threshold)
    coarse = np.geomspace(scale_range[0], scale_range[1], num=int(np.ceil(np.log(scale_range[1] / scale_range[0]) / np.log(1.05))) + 1)
    best: tuple[float, float] | None = None
    for candidate in coarse:
        found = _match(lr_gray, hr_gray, float(candidate))
        if found is not None and (best is None or found[0] > best[1]):
            best = (float(candidate), found[0])
    if best is None:
        raise AlignmentError(
            f"the HR reference ({hr.shape[1]}x{hr.shape[0]}) does not fit inside the LR image "
            f"({lr.shape[1]}x{lr.shape[0]}) at any magnification in {scale_range[0]:g}-{scale_range[1]:g}"
        )
    fine = best[0] * np.linspace(0.97, 1.03, 13)
    refined = max(((float(s), _match(lr_gray, hr_gray, float(s))) for s in fine), key=lambda item: -1 if item[1] is None else item[1][0])
    return align_reference(lr, hr, refined[0], threshold=threshold)
