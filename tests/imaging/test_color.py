import numpy as np
from skimage.color import rgb2ycbcr, ycbcr2rgb

from microsr_core.imaging.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_matches_matlab_rgb2ycbcr_via_skimage(sample):
    # skimage.color.rgb2ycbcr implements MATLAB's rgb2ycbcr in 8-bit units.
    np.testing.assert_allclose(rgb_to_ycbcr(sample) * 255, rgb2ycbcr(sample), atol=1e-3)
    np.testing.assert_allclose(rgb_to_y(sample) * 255, rgb2ycbcr(sample)[..., 0], atol=1e-3)


def test_studio_swing_limits():
    black, white = np.zeros((1, 1, 3)), np.ones((1, 1, 3))
    assert rgb_to_y(black)[0, 0] * 255 == np.float32(16.0)
    np.testing.assert_allclose(rgb_to_y(white)[0, 0] * 255, 235.0, atol=1e-4)


def test_round_trip(sample):
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(sample)), sample, atol=1e-5)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(sample)), ycbcr2rgb(rgb2ycbcr(sample)), atol=1e-4)
