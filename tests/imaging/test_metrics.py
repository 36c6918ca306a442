import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from microsr_core.imaging.color import rgb_to_y
from microsr_core.imaging.degrade import bicubic_downscale, bicubic_upscale
from microsr_core.imaging.metrics import masked_psnr_y, measure, psnr, psnr_y, ssim_map_y, ssim_y, stain_fidelity


@pytest.fixture(scope="module")
def pair(sample):
    """A real (SR, HR) pair: the sample and its x2 bicubic round trip."""
    hr = sample
    sr = np.clip(bicubic_upscale(bicubic_downscale(hr, 2), 2), 0, 1)
    return sr, hr


def test_psnr_y_equals_skimage(pair):
    sr, hr = pair
    a, b = rgb_to_y(sr)[2:-2, 2:-2] * 255.0, rgb_to_y(hr)[2:-2, 2:-2] * 255.0
    expected = peak_signal_noise_ratio(b.astype(np.float64), a.astype(np.float64), data_range=255)
    assert psnr_y(sr, hr, crop_border=2) == pytest.approx(expected, abs=1e-6)


def test_ssim_y_equals_skimage_with_paper_options(pair):
    sr, hr = pair
    a, b = rgb_to_y(sr)[2:-2, 2:-2].astype(np.float64) * 255, rgb_to_y(hr)[2:-2, 2:-2].astype(np.float64) * 255
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim_y(sr, hr, crop_border=2) == pytest.approx(expected, abs=1e-6)
    # scikit-image's defaults (7x7 uniform window) give a different number: the convention matters.
    assert abs(structural_similarity(a, b, data_range=255) - expected) > 1e-3


def test_fixed_reference_values(pair):
    # One 8-bit level of error everywhere: 10·log10(255²/1).
    flat = np.full((16, 16), 100 / 255)
    assert psnr(flat + 1 / 255, flat) == pytest.approx(48.130803608679106, abs=1e-9)
    assert psnr(flat, flat) == math.inf
    sr, hr = pair
    # Frozen values of the sample's x2 bicubic round trip (Y, border 2).
    assert psnr_y(sr, hr, 2) == pytest.approx(34.4242, abs=5e-4)
    assert ssim_y(sr, hr, 2) == pytest.approx(0.9146, abs=5e-4)


def test_border_is_shaved(pair):
    sr, hr = pair
    damaged = sr.copy()
    damaged[:2] = 0
    assert psnr_y(damaged, hr, crop_border=2) == pytest.approx(psnr_y(sr, hr, crop_border=2))


def test_maps_and_masks(pair):
    sr, hr = pair
    assert ssim_map_y(sr, hr).shape == hr.shape[:2]
    full = np.ones(hr.shape[:2], bool)
    assert masked_psnr_y(sr, hr, full, 2) == pytest.approx(psnr_y(sr, hr, 2), abs=1e-6)
    assert math.isnan(masked_psnr_y(sr, hr, np.zeros_like(full), 2))
    values = measure(sr, hr, 2, mask=full)
    assert set(values) == {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "psnr_y_mask", "ssim_y_mask"}
    assert values["ssim_y_mask"] == pytest.approx(values["ssim_y"], abs=1e-6)


def test_shape_mismatch_is_an_error(pair):
    sr, hr = pair
    with pytest.raises(ValueError, match="differ in shape"):
        psnr_y(sr[:-1], hr)


def test_gradient_energy_ratio_tells_blurred_from_sharp(sample):
    from scipy import ndimage

    from microsr_core.imaging.metrics import gradient_energy_ratio

    hr = sample[:96, :96]
    blurred = ndimage.gaussian_filter(hr, (1.5, 1.5, 0))
    noisy = np.clip(hr + np.random.default_rng(0).normal(0, 0.1, hr.shape), 0, 1).astype(np.float32)
    assert gradient_energy_ratio(hr, hr, 2) == pytest.approx(1.0)
    assert gradient_energy_ratio(blurred, hr, 2) < 0.5
    assert gradient_energy_ratio(noisy, hr, 2) > 1.3


@pytest.mark.parametrize("lab1, lab2, expected", [
    # Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1, pairs 8, 17 and 18.
    ((50, 0, 0), (50, -1, 2), 2.3669),
    ((50, 2.5, 0), (73, 25, -18), 27.1492),
    ((50, 2.5, 0), (61, -5, 29), 22.8977),
])
def test_stain_fidelity_reproduces_the_ciede2000_test_pairs(lab1, lab2, expected):
    from skimage.color import lab2rgb

    a, b = (np.tile(lab2rgb(np.array([[lab]], float)), (8, 8, 1)).astype(np.float32) for lab in (lab1, lab2))
    values = stain_fidelity(a, b)
    assert values["delta_e_mean"] == pytest.approx(expected, abs=1e-3)
    assert values["delta_e_p95"] == pytest.approx(expected, abs=1e-3)


def test_stain_fidelity_mean_and_95th_percentile_and_border():
    hr = np.full((10, 10, 3), (0.8, 0.2, 0.6), np.float32)
    sr = hr.copy()
    sr[0, :] = (0.7, 0.2, 0.6)  # 10 of 100 pixels off by 5.6389 (more than 5 %: the 95th percentile sees them)
    values = stain_fidelity(sr, hr)
    assert values["delta_e_mean"] == pytest.approx(0.56389, abs=1e-4) and values["delta_e_p95"] == pytest.approx(5.63890, abs=1e-4)
    sr[0, :] = hr[0, :]
    sr[5, :4] = (0.7, 0.2, 0.6)  # 4 % of the pixels: under the 95th percentile
    assert stain_fidelity(sr, hr)["delta_e_p95"] == 0.0
    assert stain_fidelity(sr, hr, crop_border=4)["delta_e_mean"] == 0.0  # row 5, cols 0-3 lie in the border
    assert stain_fidelity(hr, hr) == {"delta_e_mean": 0.0, "delta_e_p95": 0.0}
    with pytest.raises(ValueError, match="differ in shape"):
        stain_fidelity(hr, hr[:5])


def test_invented_colour_counts_pixels_a_method_put_off_colour_where_bicubic_was_right():
    from microsr_core.imaging.metrics import invented_colour

    hr = np.full((20, 20, 3), 0.6, dtype=np.float32)  # a grey background
    pink = hr.copy()
    pink[:10, :, 0] += 0.15  # a pink cast over the top half
    assert invented_colour(pink, hr, hr) == pytest.approx(50.0)
    assert invented_colour(pink, pink, hr) == 0.0  # bicubic was off there too: lost, not invented
    assert invented_colour(hr, hr, hr) == 0.0
    assert invented_colour(pink, hr, hr, crop_border=5) == pytest.approx(50.0)
