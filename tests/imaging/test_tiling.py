import numpy as np
import pytest

from microsr_core.imaging.tiling import Blender, make_tiles


@pytest.mark.parametrize("height, width, tile, margin", [(100, 37, 32, 5), (64, 64, 64, 8), (201, 150, 60, 12)])
def test_tiles_cover_the_image_with_enough_overlap(height, width, tile, margin):
    tiles = make_tiles(height, width, tile, margin)
    covered = np.zeros((height, width), int)
    for t in tiles:
        covered[t.top : t.bottom, t.left : t.right] += 1
        assert t.bottom - t.top <= tile and t.right - t.left <= tile
    assert covered.min() >= 1


def test_blending_identical_tiles_is_exact():
    image = np.random.default_rng(0).random((90, 70, 3)).astype(np.float32)
    blender = Blender(90, 70, 2, 4)
    for t in make_tiles(90, 70, 40, 4):
        up = image[t.top : t.bottom, t.left : t.right].repeat(2, 0).repeat(2, 1)
        blender.add(t, {"sr": up})
    np.testing.assert_allclose(blender.result()["sr"], image.repeat(2, 0).repeat(2, 1), atol=1e-6)


def test_margin_too_large_for_tile():
    with pytest.raises(ValueError, match="three times the margin"):
        make_tiles(100, 100, 30, 10)


def test_blender_keeps_only_a_band_and_can_write_uint8():
    from microsr_core.imaging.io import to_uint

    image = np.random.default_rng(1).random((120, 50, 3)).astype(np.float32)
    floats, bytes_ = Blender(120, 50, 2, 3), Blender(120, 50, 2, 3, np.uint8)
    largest_band = 0
    for t in make_tiles(120, 50, 30, 3):
        up = image[t.top : t.bottom, t.left : t.right].repeat(2, 0).repeat(2, 1)
        floats.add(t, {"sr": up})
        bytes_.add(t, {"sr": up})
        largest_band = max(largest_band, bytes_.weight.shape[0])
    assert largest_band <= 2 * 30  # never more than one row of tiles of accumulators
    np.testing.assert_array_equal(bytes_.result()["sr"], to_uint(floats.result()["sr"]))


def test_uint8_input_and_output_match_float(sample):
    from microsr_core.models.inference import upscale
    from microsr_core.imaging.io import to_uint

    as_bytes = to_uint(sample)
    floats = upscale(as_bytes / np.float32(255), "bicubic", 2, tile=100)
    small = upscale(as_bytes, "bicubic", 2, tile=100, output_dtype=np.uint8)
    assert small.image.dtype == np.uint8 and small.tiles > 1
    np.testing.assert_array_equal(small.image, to_uint(floats.image))


def test_block_grid_cores_partition_the_image_and_windows_add_the_margin():
    from microsr_core.imaging.tiling import block_grid

    blocks = block_grid(100, 70, 32, 5)
    covered = np.zeros((100, 70), int)
    for b in blocks:
        covered[b.core.top : b.core.bottom, b.core.left : b.core.right] += 1
        assert b.window.top == max(0, b.core.top - 5) and b.window.right == min(70, b.core.right + 5)
        rows, cols = b.core_in_window(2)
        assert rows.stop - rows.start == 2 * (b.core.bottom - b.core.top) and cols.start == 2 * (b.core.left - b.window.left)
    assert (covered == 1).all() and len(blocks) == 4 * 3
