"""Leukocyte parsing maps: classes, expert masks -> labels, per-class areas (no torch).

A *parsing map* (Hua et al. 2020, ``shared/papers/003_…`` §2.1) is float32 (H, W, 3) with the
per-pixel probabilities of nucleus, cytoplasm and background, in that channel order; the
``prior`` method returns one as ``maps["parsing"]``. A *label image* is (H, W) integers
0 = nucleus, 1 = cytoplasm, 2 = background (the channel indices).

Expert masks follow the ``wbc_seg`` coding (Zheng et al. 2018): 0 background, 128 cytoplasm,
255 nucleus, as 8-bit grey levels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ParameterError

#: Channel order of a parsing map and meaning of label values (shared with the network).
CLASSES = ("nucleus", "cytoplasm", "background")
NUCLEUS, CYTOPLASM, BACKGROUND = range(3)
#: Display colours as in the paper's Fig. 2 (nucleus blue, cytoplasm red, background black), RGB in [0, 1].
COLOURS = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)


def mask_to_labels(mask: np.ndarray) -> np.ndarray:
    """Label image of a ``wbc_seg`` expert mask.

    Parameters
    ----------
    mask : ndarray, (H, W) or (H, W, C)
        Grey levels 0 / 128 / 255 as uint8, or the same as float in [0, 1] (the MicroSR image
        contract; the first channel is used). Levels are assigned to the nearest of the three
        codes (thresholds 64 and 192), because a few mask pixels carry stray values.

    Returns
    -------
    ndarray, (H, W) uint8
        0 nucleus, 1 cytoplasm, 2 background.
    """
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    if mask.ndim != 2:
        raise ParameterError(f"expected an (H, W) or (H, W, C) mask, got shape {mask.shape}")
    if np.issubdtype(mask.dtype, np.floating):
        levels = np.round(mask * 255.0)
    elif mask.dtype == np.uint8:
        levels = mask
    else:
        raise ParameterError(f"mask must be uint8 or float in [0, 1], got {mask.dtype}")
    labels = np.full(mask.shape, BACKGROUND, dtype=np.uint8)
    labels[levels >= 64] = CYTOPLASM
    labels[levels >= 192] = NUCLEUS
    return labels


def labels_of(parsing: np.ndarray) -> np.ndarray:
    """Most probable class of every pixel of a parsing map (H, W, 3) -> (H, W) uint8."""
    if parsing.ndim != 3 or parsing.shape[2] != len(CLASSES):
        raise ParameterError(f"expected an (H, W, {len(CLASSES)}) parsing map, got shape {parsing.shape}")
    return np.argmax(parsing, axis=2).astype(np.uint8)


def class_areas(parsing: np.ndarray, pixel_area: float = 1.0) -> dict[str, float]:
    """Area of each class in a parsing map, each pixel counted for its most probable class.

    Parameters
    ----------
    parsing : ndarray, (H, W, 3) float
        Probabilities of nucleus, cytoplasm, background (``maps["parsing"]`` of ``prior``), or
        an (H, W) label image.
    pixel_area : float
        Area of one pixel of ``parsing`` in the unit wanted (for example µm² per SR pixel, or
        ``1 / scale**2`` for LR pixels). 1 gives pixel counts.

    Returns
    -------
    dict
        ``{"nucleus": a, "cytoplasm": b, "background": c, "cell": a + b,
        "nucleus_fraction": a / (a + b)}`` (the fraction is NaN when no cell pixel is found).
    """
    labels = parsing if parsing.ndim == 2 else labels_of(parsing)
    counts = np.bincount(labels.ravel(), minlength=len(CLASSES))[: len(CLASSES)]
    areas = {name: float(count) * pixel_area for name, count in zip(CLASSES, counts)}
    areas["cell"] = areas["nucleus"] + areas["cytoplasm"]
    cell_pixels = int(counts[NUCLEUS] + counts[CYTOPLASM])
    areas["nucleus_fraction"] = float(counts[NUCLEUS]) / cell_pixels if cell_pixels else float("nan")
    return areas


#: A cell class covering more of the image than this, or background covering less than
#: ``MIN_BACKGROUND``, is not a plausible parsing of a leukocyte image or a smear (the expert
#: masks of wbc_seg have 25-95 % background); the prior's SR then rests on a wrong map.
MAX_CELL_CLASS = 0.9
MIN_BACKGROUND = 0.02
#: What the overlay's colours mean (the background is left untinted).
OVERLAY_LEGEND = "parsing map overlay: nucleus blue, cytoplasm red, background untinted"


def implausible_parsing(parsing: np.ndarray) -> str | None:
    """Why a parsing map (or label image) cannot be right, or None when it may be.

    A map that calls almost every pixel one cell class, or leaves almost no background, has
    missed the image's structure (seen in teaching mode on a leukocyte: 0.28 % background, the
    prior 1 dB below bicubic).
    """
    areas = class_areas(parsing)
    total = areas["cell"] + areas["background"]
    if total == 0:
        return None
    shares = {name: areas[name] / total for name in CLASSES}
    for name in ("nucleus", "cytoplasm"):
        if shares[name] > MAX_CELL_CLASS:
            return f"the parsing map calls {shares[name]:.1%} of the image {name}, which no blood image is"
    if shares["background"] < MIN_BACKGROUND:
        return f"the parsing map leaves only {shares['background']:.2%} of the image as background"
    return None


def parsing_labels(parsing: np.ndarray) -> np.ndarray:
    """Class label per pixel of a parsing map: argmax over channels of an (H, W, C) map of
    scores (for the prior network: :data:`microsr_core.imaging.parsing.CLASSES` order), or the rounded
    values of a one-channel map of labels."""
    parsing = np.asarray(parsing)
    if parsing.ndim == 2 or parsing.shape[2] == 1:
        return np.rint(parsing.reshape(parsing.shape[:2])).astype(np.int64)
    return np.argmax(parsing, axis=2).astype(np.int64)


def parsing_classes(parsing: np.ndarray, names: Sequence[str] | None = None) -> list[str]:
    """Names of the classes of a parsing map: ``names`` when given, the prior network's
    :data:`~microsr_core.imaging.parsing.CLASSES` for a map with that many channels, else ``class k``."""
    if names:
        return list(names)
    channels = 1 if parsing.ndim == 2 else parsing.shape[2]
    if channels == len(CLASSES):
        return list(CLASSES)
    count = int(parsing_labels(parsing).max()) + 1 if channels == 1 else channels
    return [f"class {k}" for k in range(count)]


def parsing_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45,
                    colours: np.ndarray = COLOURS, transparent: Sequence[int] = (BACKGROUND,)) -> np.ndarray:
    """Blend class colours (the paper's: nucleus blue, cytoplasm red) over ``image``; classes in
    ``transparent`` (the background) are left as they are. Both share height and width."""
    labels = np.asarray(labels).astype(np.int64)
    colours = np.asarray(colours, dtype=np.float32)
    tint = colours[np.mod(labels, len(colours))]
    weight = np.where(np.isin(labels, list(transparent)), 0.0, alpha)[..., None].astype(np.float32)
    return ((1 - weight) * image + weight * tint).astype(np.float32)
