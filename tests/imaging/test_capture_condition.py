"""A capture's noise and detail: measured on what a pipeline did, and estimated from its pixels alone."""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from microsr_core.imaging.capture_condition import (
    CONDITION_FACTS, DETAIL_HIDDEN, DETAIL_OUT, NOISE_HIDDEN, NOISE_OUT, ROW_FIELDS, TILE_SIDE, TILES, CaptureCondition, condition_estimate,
    condition_facts, detail_ratio, edge_overshoot, estimate_condition, spread_tiles,
)
from microsr_core.imaging.capture_family import CameraPipeline, CaptureFamily, unsharp_mask
from microsr_core.imaging.degrade import MicroscopeCapture, bicubic_downscale
from microsr_core.imaging.lr_facts import MIN_SIDE


@pytest.fixture(scope="module")
def field(sample) -> np.ndarray:
    return sample[:256, :256]


def test_conditioned_pair_makes_the_same_capture_as_pair_from_the_same_draws(field):
    family = CaptureFamily()
    for seed in range(3):
        target, lr, noise, detail = family.conditioned_pair(field, 2, np.random.default_rng(seed))
        expected_lr, expected_target = family.pair(field, 2, np.random.default_rng(seed))
        assert np.array_equal(lr, expected_lr) and np.array_equal(target, expected_target)
        assert noise > 0.25 and 0.1 < detail < 2


def test_noise_is_what_the_sensor_and_the_file_added(field):
    clean = CameraPipeline(capture=MicroscopeCapture(full_well=1e12, read_noise=0.0, jpeg_quality=0))
    rounding = clean.conditioned(field, 2)[1]
    luma_weights = np.array([65.481, 128.553, 24.966]) / 255  # BT.601: Y's share of each 8-bit channel's rounding error
    assert rounding == pytest.approx(np.sqrt(np.sum(luma_weights**2) / 12), abs=0.02)  # the 8-bit file alone: 0.17 grey levels
    noisy = [replace(clean, capture=replace(clean.capture, full_well=well, read_noise=5.0)).conditioned(field, 2)[1] for well in (20000.0, 2000.0, 200.0)]
    assert rounding < noisy[0] < noisy[1] < noisy[2]
    jpeg = replace(clean, codec="jpeg", quality=50).conditioned(field, 2)[1]
    assert jpeg > 2 * rounding  # the lossy file's error counts


def test_detail_is_below_one_for_blur_and_above_for_sharpening(field):
    optics = MicroscopeCapture(na=0.3, full_well=3000.0, jpeg_quality=0)
    blurred = CameraPipeline(capture=optics).conditioned(field, 2)[2]
    defocused = CameraPipeline(capture=optics, psf="disc", defocus_um=0.6).conditioned(field, 2)[2]
    sharpened = CameraPipeline(capture=replace(optics, na=0.9), processing=("sharpen",), sharpen_amount=1.2).conditioned(field, 2)[2]
    assert defocused < blurred < 1 < sharpened
    assert detail_ratio(bicubic_downscale(field, 2), bicubic_downscale(field, 2)) == 1.0


def test_edge_overshoot_reads_sharpening_not_blur():
    step = np.repeat(np.where(np.arange(64) < 32, 0.3, 0.7)[None, :], 64, axis=0).astype(np.float32)
    blurred = ndimage.gaussian_filter(step, 0.7)
    sharpened = unsharp_mask(np.repeat(blurred[..., None], 3, axis=2), 1.0, 1.0)[..., 0]
    assert edge_overshoot(blurred * 255) == (0.0, 0.0)  # a blurred edge rises monotonically
    # the unsharp mask's lobes: 8.3 grey levels above the bright side and 6.7 below the dark one, over a 104-level step
    assert edge_overshoot(sharpened * 255) == pytest.approx((0.145, 0.145), abs=0.005)
    assert edge_overshoot(np.full((64, 64), 128.0)) == (0.0, 0.0)  # no edges: nothing to read


def test_the_network_constants_fit_their_facts():
    for hidden, out in ((NOISE_HIDDEN, NOISE_OUT), (DETAIL_HIDDEN, DETAIL_OUT)):
        assert hidden.shape[0] == len(CONDITION_FACTS) + 1 and out.shape == (hidden.shape[1] + 1,)


def test_a_tiny_image_cannot_tell(field):
    condition = estimate_condition(field[: MIN_SIDE - 1])
    assert condition.noise is None and "can't tell" in condition.line()
    assert set(condition.row()) == set(ROW_FIELDS) and condition.row()["capture_detail"] is None


def test_the_estimate_orders_noise_and_detail_as_the_captures_do(field):
    """Captures of the bundled field, which no fit saw: more sensor noise reads as more noise, a
    defocused low-NA capture as less detail than a sharpened high-NA one."""
    optics = MicroscopeCapture(na=0.35, full_well=20000.0, jpeg_quality=0)
    quiet, loud = CameraPipeline(capture=replace(optics, read_noise=1.0)), CameraPipeline(capture=replace(optics, full_well=300.0, read_noise=10.0))
    soft = CameraPipeline(capture=replace(optics, na=0.25), psf="disc", defocus_um=0.3)
    crisp = CameraPipeline(capture=replace(optics, na=0.9), processing=("sharpen",), sharpen_amount=1.0)
    (quiet_lr, _, _), (loud_lr, loud_noise, _) = quiet.conditioned(field, 2), loud.conditioned(field, 2)
    (soft_lr, _, soft_detail), (crisp_lr, _, crisp_detail) = soft.conditioned(field, 2), crisp.conditioned(field, 2)
    assert loud_noise > 8 and soft_detail < 0.3 < 1.5 < crisp_detail  # what the captures did
    quiet, loud, soft, crisp = (estimate_condition(lr) for lr in (quiet_lr, loud_lr, soft_lr, crisp_lr))
    assert quiet.noise < loud.noise and loud.noise_low <= loud_noise <= loud.noise_high
    assert soft.detail < crisp.detail
    assert soft.line().startswith(f"capture: sensor and file noise {soft.noise:.1f} ± {(soft.noise_high - soft.noise_low) / 2:.1f} grey levels, detail {soft.detail:.2f} ± ")


def test_the_detail_is_called_blurred_or_sharpened_only_where_its_whole_interval_says_so():
    def words(low: float, high: float) -> str:
        return CaptureCondition(1.0, 0.5, 2.0, (low + high) / 2, low, high).line().rpartition("(")[2]

    assert words(0.3, 0.9) == "blurred)" and words(1.1, 1.6) == "sharpened)" and words(0.85, 1.2) == "about as sharp as a bicubic downscale)"
    assert words(0.41, 1.09) == "can't tell blurred from sharpened)" and words(0.9, 1.3) == "can't tell blurred from sharpened)"


def test_a_large_image_is_read_as_tiles_of_the_size_the_networks_saw(sample):
    tiles = spread_tiles(sample)  # 512 px: 3 × 3 tiles of 240 px, from the top-left corner to the bottom-right one
    assert len(tiles) == TILES**2 and all(tile.shape[:2] == (TILE_SIDE, TILE_SIDE) for tile in tiles)
    assert np.array_equal(tiles[0], sample[:TILE_SIDE, :TILE_SIDE]) and np.array_equal(tiles[-1], sample[-TILE_SIDE:, -TILE_SIDE:])
    whole, each = estimate_condition(sample), [estimate_condition(tile) for tile in tiles]
    assert whole.noise == np.median([tile.noise for tile in each]) and whole.detail_high == np.median([tile.detail_high for tile in each])
    assert estimate_condition(sample[:TILE_SIDE]) == condition_estimate(condition_facts(sample[:TILE_SIDE]))  # not over the side: read whole
