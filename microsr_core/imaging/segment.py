"""A fixed classical nucleus and cell segmenter, and the clinical agreement of a result with the HR.

PSNR/SSIM say little of what a clinician reads off a smear: are the nuclei the same shape and
size, are the same cells there? So the same segmenter runs on the HR reference and on every SR
result, and the agreement of the two segmentations is reported (:func:`agreement`).

The segmenter has no learned weights. Stained nuclei (haematoxylin, Giemsa, Wright) absorb red
light most, so it reads the red channel's darkness ``1 - R``, whose histogram has three modes
(bright background, pale red cells and cytoplasm, dark nuclei); the two multi-Otsu thresholds
(Liao et al. 2001) split them: above the upper one is nucleus, above the lower one a cell.
Specks under :data:`MIN_OBJECT` of the image are dropped and holes under :data:`MAX_HOLE` filled.
Chosen on the wbc_seg train split (darkness of red against the haematoxylin channel of
``skimage.color.rgb2hed``, saturation and blue-minus-red, with one or two Otsu thresholds);
its Dice against the experts' masks on val and test is in docs/results.md
(``python bench/segmenter_dice.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Objects smaller than this share of the image are specks (stain debris, platelets' dots).
MIN_OBJECT = 0.002
#: Holes smaller than this share of the image are filled (pale chromatin inside a nucleus).
MAX_HOLE = 0.015


@dataclass
class Segmentation:
    """Nucleus and cell masks of one image and the labelled cells."""

    nucleus: np.ndarray  # bool (H, W)
    cells: np.ndarray  # int (H, W): 0 background, 1..count one label per cell

    @property
    def count(self) -> int:
        return int(self.cells.max())


def _clean(mask: np.ndarray) -> np.ndarray:
    from skimage import morphology

    area = mask.size
    mask = morphology.remove_small_objects(mask, max_size=max(1, int(MIN_OBJECT * area)))
    return morphology.remove_small_holes(mask, max_size=max(1, int(MAX_HOLE * area)))


def segment(rgb: np.ndarray) -> Segmentation:
    """Segment nuclei and cells of an RGB image in [0, 1] (see the module docstring)."""
    from skimage import filters, measure

    darkness = 1.0 - np.asarray(rgb, dtype=np.float64)[..., 0]
    if float(darkness.max() - darkness.min()) < 1e-3:  # a flat image holds no cells
        empty = np.zeros(darkness.shape, dtype=bool)
        return Segmentation(empty, np.zeros(darkness.shape, dtype=np.int32))
    low, high = filters.threshold_multiotsu(darkness, classes=3)
    nucleus = _clean(darkness > high)
    cells = measure.label(_clean(darkness > low) | nucleus, connectivity=1).astype(np.int32)
    return Segmentation(nucleus, cells)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float(np.logical_and(a, b).sum()) / total


#: How :func:`agreement` measures, shown beside its numbers.
AGREEMENT_CONVENTION = ("nucleus = the darkest of three multi-Otsu classes of 1 - R, cell = the two darker ones (no learned "
                        "weights; nucleus Dice against wbc_seg experts 0.89-0.98 on val and test); Dice of the nuclei, "
                        "cells found minus the HR's, and inside each HR cell the |error| of the nucleus area (% of the HR's) "
                        "and of the nucleus-to-cytoplasm area ratio, averaged over cells.")
#: Agreement fields, in the order the reports show them.
AGREEMENT_FIELDS = ("nucleus_dice", "cell_count_diff", "nucleus_area_error_pct", "nc_ratio_error")


def agreement(sr: np.ndarray, hr: np.ndarray, reference: Segmentation | None = None) -> dict[str, float]:
    """How a result's segmentation agrees with the HR's: nucleus Dice; cells found minus the HR's;
    over the HR's cells that hold a nucleus, the mean |Δ nucleus area| (% of the HR's) and the mean
    |Δ nucleus-to-cytoplasm area ratio| inside the same cell (NaN without such a cell)."""
    ref = reference or segment(hr)
    found = segment(sr)
    area_errors, ratio_errors = [], []
    for label in range(1, ref.count + 1):
        cell = ref.cells == label
        hr_nucleus, sr_nucleus = np.logical_and(cell, ref.nucleus).sum(), np.logical_and(cell, found.nucleus).sum()
        cytoplasm = cell.sum() - hr_nucleus
        if hr_nucleus == 0 or cytoplasm == 0:
            continue
        area_errors.append(100.0 * abs(int(sr_nucleus) - int(hr_nucleus)) / hr_nucleus)
        ratio_errors.append(abs(sr_nucleus / max(cell.sum() - sr_nucleus, 1) - hr_nucleus / cytoplasm))
    return {
        "nucleus_dice": dice(found.nucleus, ref.nucleus),
        "cell_count_diff": float(found.count - ref.count),
        "nucleus_area_error_pct": float(np.mean(area_errors)) if area_errors else math.nan,
        "nc_ratio_error": float(np.mean(ratio_errors)) if ratio_errors else math.nan,
    }
