"""The classical nucleus and cell segmenter and the clinical agreement it measures."""

from __future__ import annotations

import numpy as np
import pytest

from microsr_core.imaging.degrade import bicubic_downscale, bicubic_upscale
from microsr_core.imaging.segment import agreement, dice, segment

BACKGROUND, RED_CELL, CYTOPLASM, NUCLEUS = (0.95, 0.9, 0.8), (0.85, 0.55, 0.6), (0.75, 0.65, 0.85), (0.35, 0.25, 0.55)


def disc(shape, centre, radius):
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


@pytest.fixture
def smear():
    """A red cell and a leukocyte (nucleus inside cytoplasm) on a bright background, with mild noise."""
    shape = (96, 128)
    image = np.empty(shape + (3,), dtype=np.float32)
    image[:] = BACKGROUND
    image[disc(shape, (30, 30), 18)] = RED_CELL
    image[disc(shape, (55, 90), 26)] = CYTOPLASM
    image[disc(shape, (55, 90), 14)] = NUCLEUS
    noise = np.random.default_rng(1).normal(0, 0.01, image.shape)
    return np.clip(image + noise, 0, 1).astype(np.float32), disc(shape, (55, 90), 14)


def test_segment_finds_the_nucleus_and_both_cells(smear):
    image, nucleus = smear
    found = segment(image)
    assert dice(found.nucleus, nucleus) > 0.97
    assert found.count == 2


def test_a_flat_image_holds_no_cells():
    found = segment(np.full((32, 32, 3), 0.5, dtype=np.float32))
    assert found.count == 0 and not found.nucleus.any()


def test_agreement_is_perfect_on_the_hr_and_measures_a_shrunken_nucleus(smear):
    hr, _ = smear
    same = agreement(hr, hr)
    assert same == {"nucleus_dice": 1.0, "cell_count_diff": 0.0, "nucleus_area_error_pct": 0.0, "nc_ratio_error": 0.0}
    shrunk = hr.copy()
    ring = disc(hr.shape, (55, 90), 14) & ~disc(hr.shape, (55, 90), 10)
    shrunk[ring] = CYTOPLASM  # the nucleus's outer ring painted as cytoplasm: half its area gone
    row = agreement(shrunk, hr)
    assert row["nucleus_dice"] == pytest.approx(2 * 100 / (100 + 196), abs=0.04)  # radius 10 vs 14: areas 100 : 196
    assert row["nucleus_area_error_pct"] == pytest.approx(100 * 96 / 196, abs=4) and row["cell_count_diff"] == 0
    assert row["nc_ratio_error"] > 0.2


def test_bicubic_x4_keeps_most_of_the_nucleus(smear):
    hr, _ = smear
    row = agreement(bicubic_upscale(bicubic_downscale(hr, 4), 4), hr)
    assert 0.9 < row["nucleus_dice"] < 1 and row["cell_count_diff"] == 0
