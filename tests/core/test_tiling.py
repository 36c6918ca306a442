import numpy as np
import pytest

from microsr_core.tiling import Blender, make_tiles


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
