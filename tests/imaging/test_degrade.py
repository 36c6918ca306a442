import numpy as np
import pytest

from microsr_core.imaging.degrade import (
    GAUSSIAN_SIGMA,
    Degradation,
    add_noise,
    bicubic_downscale,
    gaussian_blur,
    imresize,
    jpeg_compress,
    resize_weights,
)
from microsr_core.errors import ParameterError

RAMP = np.arange(16, dtype=np.float64).reshape(4, 4)


def test_imresize_matches_known_matlab_values_without_antialiasing():
    # imresize(reshape(0:15,4,4)', 0.5, 'bicubic', 'AntiAliasing', false) in MATLAB/Octave.
    np.testing.assert_allclose(imresize(RAMP, 0.5, antialias=False), [[2.1875, 4.3125], [10.6875, 12.8125]], atol=1e-12)


def test_half_scale_kernel_is_matlabs_antialiased_cubic():
    # MATLAB's x1/2 bicubic taps: scale * cubic(scale * x) at x = ±0.5 … ±3.5, normalised.
    _, weights = resize_weights(16, 8, 0.5)
    np.testing.assert_allclose(
        weights[3], [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
    )


def test_upscale_by_two_known_values():
    # Cubic a = -0.5 at offsets 0.25/0.75 with symmetric borders.
    out = imresize(np.arange(4.0).reshape(2, 2), 2)
    np.testing.assert_allclose(out[0], [-0.28125, 0.015625, 0.609375, 0.90625])


def test_identity_at_scale_one(sample):
    np.testing.assert_allclose(imresize(sample, 1.0), sample, atol=1e-6)


def test_bicubic_downscale_crops_to_multiple(sample):
    lr = bicubic_downscale(sample[:101, :99], 4)
    assert lr.shape == (25, 24, 3)
    assert lr.min() >= 0 and lr.max() <= 1


def test_torch_antialiased_bicubic_is_close_but_not_identical(sample):
    # CONVENTIONS.md: PyTorch's antialiased bicubic is within a few thousandths of a dB.
    import torch

    t = torch.from_numpy(sample).permute(2, 0, 1)[None]
    theirs = torch.nn.functional.interpolate(t, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    diff = np.abs(theirs[0].permute(1, 2, 0).numpy() - imresize(sample, 0.5))[8:-8, 8:-8]
    assert diff.max() < 0.02


def test_gaussian_blur_same_size_and_normalised(sample):
    assert GAUSSIAN_SIGMA == pytest.approx(2.6)
    blurred = gaussian_blur(sample)
    assert blurred.shape == sample.shape
    flat = np.full((32, 32, 3), 0.5, np.float32)
    np.testing.assert_allclose(gaussian_blur(flat), flat, atol=1e-6)
    assert blurred.std() < sample.std()


def test_noise_and_jpeg_are_reproducible(sample):
    np.testing.assert_array_equal(add_noise(sample, 0.05, seed=3), add_noise(sample, 0.05, seed=3))
    assert not np.array_equal(add_noise(sample, 0.05, seed=3), add_noise(sample, 0.05, seed=4))
    np.testing.assert_array_equal(jpeg_compress(sample, 50), jpeg_compress(sample, 50))


def test_degradation_pipeline(sample):
    lr = Degradation("gaussian", 2, noise_sigma=0.01, seed=1).apply(sample)
    assert lr.shape == (256, 256, 3)
    np.testing.assert_array_equal(lr * 255, np.round(lr * 255))  # 8-bit levels
    assert Degradation("gaussian", 1).apply(sample).shape == sample.shape
    assert "Gaussian blur 15x15" in Degradation("gaussian", 1).describe()


@pytest.mark.parametrize("kwargs, message", [({"kind": "motion"}, "unknown degradation"), ({"scale": 0}, "positive integer"), ({"noise_sigma": -1}, "sigma")])
def test_degradation_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Degradation(**kwargs)


# --- The microscope capture ---------------------------------------------------------------------

from microsr_core.imaging.degrade import (  # noqa: E402
    AIRY_GAUSSIAN_SIGMA,
    CaptureRanges,
    MicroscopeCapture,
    blur_psf,
    integrate_pixels,
    linear_to_srgb,
    psf_kernel,
    sensor_noise,
    srgb_to_linear,
)


def _second_moments(image: np.ndarray) -> tuple[float, float, float]:
    y, x = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float64)
    total = image.sum()
    cy, cx = (y * image).sum() / total, (x * image).sum() / total
    return ((y - cy) ** 2 * image).sum() / total, ((x - cx) ** 2 * image).sum() / total, ((x - cx) * (y - cy) * image).sum() / total


def test_psf_sigma_is_the_airy_fit_less_the_hr_objective_in_quadrature():
    capture = MicroscopeCapture(na=0.25, hr_na=1.0, pixel_um=0.4, defocus=0.3)
    for wavelength, sigma in zip(capture.wavelengths_um, capture.psf_sigmas()):
        low, own = AIRY_GAUSSIAN_SIGMA * wavelength / 0.25 / 0.4, AIRY_GAUSSIAN_SIGMA * wavelength / 1.0 / 0.4
        assert sigma == pytest.approx(np.sqrt(low**2 - own**2 + 0.3**2))
    red, green, blue = capture.psf_sigmas()
    assert red > green > blue  # the PSF widens with the wavelength


@pytest.mark.parametrize("anisotropy, angle", [(1.0, 0.0), (1.5, 30.0)])
def test_blurred_point_has_the_psf_width_and_keeps_its_light(anisotropy, angle):
    delta = np.zeros((81, 81), np.float32)
    delta[40, 40] = 1.0
    out = blur_psf(delta, 3.0, anisotropy, angle)
    assert out.sum() == pytest.approx(1.0, abs=1e-4)
    var_y, var_x, cov = _second_moments(out.astype(np.float64))
    eigen = np.linalg.eigvalsh([[var_x, cov], [cov, var_y]])
    # geometric-mean sigma 3, major/minor = anisotropy
    assert np.sqrt(eigen.prod()) ** 0.5 == pytest.approx(3.0, rel=0.02)
    assert np.sqrt(eigen[1] / eigen[0]) == pytest.approx(anisotropy, rel=0.02)
    if anisotropy > 1:  # the major axis points along angle
        major = np.linalg.eigh([[var_x, cov], [cov, var_y]])[1][:, 1]
        assert abs(np.degrees(np.arctan2(major[1], major[0])) % 180 - angle) < 1.0
    np.testing.assert_allclose(psf_kernel(2.0).sum(), 1.0)


def test_pixel_integration_sums_each_camera_pixels_area():
    image = np.random.default_rng(0).random((12, 8, 3)).astype(np.float32)
    out = integrate_pixels(image, 4)
    assert out.shape == (3, 2, 3)
    np.testing.assert_allclose(out[1, 0] * 16, image[4:8, 0:4].sum(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(out.sum() * 16, image.sum(), rtol=1e-5)


@pytest.mark.parametrize("level", [0.05, 0.3, 0.8])
def test_sensor_noise_variance_is_shot_plus_read_noise(level):
    full_well, read = 2000.0, 6.0
    out = sensor_noise(np.full((400, 400), level, np.float32), full_well, read, np.random.default_rng(1))
    assert out.mean() == pytest.approx(level, rel=0.01)
    assert out.var() == pytest.approx(level / full_well + (read / full_well) ** 2, rel=0.03)


def test_srgb_transfer_round_trips():
    values = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(values)), values, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)


def test_microscope_degradation_is_seeded_8_bit_and_blurrier_than_bicubic():
    hr = np.random.default_rng(2).random((64, 64, 3)).astype(np.float32)
    deg = Degradation("microscope", 4, seed=3)
    lr = deg.apply(hr)
    assert lr.shape == (16, 16, 3) and lr.dtype == np.float32
    np.testing.assert_array_equal(lr, deg.apply(hr))
    assert not np.array_equal(lr, Degradation("microscope", 4, seed=4).apply(hr))
    np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)
    # the wider PSF removes more of white noise's contrast than MATLAB's bicubic does
    assert deg.noiseless().apply(hr).std() < bicubic_downscale(hr, 4).std()
    assert "NA 0.3" in deg.describe() and "JPEG q90" in deg.describe()


def test_noiseless_capture_is_deterministic_and_unquantised():
    hr = np.random.default_rng(5).random((32, 32, 3)).astype(np.float32)
    plain = Degradation("microscope", 2, seed=1).noiseless()
    np.testing.assert_array_equal(plain.apply(hr), Degradation("microscope", 2, seed=9).noiseless().apply(hr))
    assert not np.allclose(plain.apply(hr) * 255, np.round(plain.apply(hr) * 255))


def test_flat_grey_capture_keeps_its_level_and_noise():
    hr = np.full((128, 128, 3), 0.6, np.float32)
    lr = MicroscopeCapture(jpeg_quality=0, full_well=1000, read_noise=0).apply(hr, 2, seed=0)
    assert lr.mean() == pytest.approx(0.6, abs=0.005)
    # shot noise in linear light, carried through the sRGB curve's slope at 0.6
    linear = float(srgb_to_linear(np.float32(0.6)))
    slope = (float(linear_to_srgb(np.float32(linear * 1.01))) - 0.6) / (linear * 0.01)
    assert lr.std() == pytest.approx(slope * np.sqrt(linear / 1000), rel=0.1)


def test_capture_parameters_parse_and_refuse_bad_text():
    capture = MicroscopeCapture.from_text("na=0.28, full_well=1500, jpeg_quality=80, gains=1:1.05:0.95")
    assert (capture.na, capture.full_well, capture.jpeg_quality, capture.gains) == (0.28, 1500.0, 80, (1.0, 1.05, 0.95))
    for text, message in [("na=abc", "not a number"), ("colour=1", "KEY one of"), ("na=2", "hr_na"), ("jpeg_quality=99", "1..95")]:
        with pytest.raises(ParameterError, match=message):
            MicroscopeCapture.from_text(text)
    ranges = CaptureRanges.from_text("na=0.3:0.4,jpeg_share=0")
    assert ranges.na == (0.3, 0.4) and ranges.jpeg_share == 0.0
    with pytest.raises(ParameterError, match="above high"):
        CaptureRanges.from_text("na=0.5:0.3")
    assert CaptureRanges.from_text("na=0.3:0.4", defaults=CaptureRanges(read_noise=(2.0, 3.0))) == CaptureRanges(na=(0.3, 0.4), read_noise=(2.0, 3.0))


def test_capture_ranges_draw_within_bounds_and_put_the_colour_drift_in_the_target():
    ranges = CaptureRanges()
    rng = np.random.default_rng(0)
    draws = [ranges.sample(rng) for _ in range(200)]
    assert all(0.2 <= d.na <= 0.6 and 800 <= d.full_well <= 20000 and 1 <= d.anisotropy <= 1.4 for d in draws)
    assert 0.6 < np.mean([d.jpeg_quality > 0 for d in draws]) < 0.95
    assert np.median([d.full_well for d in draws]) == pytest.approx(np.sqrt(800 * 20000), rel=0.3)  # log-uniform
    hr = np.full((32, 32, 3), 0.5, np.float32)
    lr, target = CaptureRanges(gain=(1.1, 1.1), jpeg_share=0).pair(hr, 2, np.random.default_rng(1))
    assert target.mean() > 0.52 and lr.mean() == pytest.approx(target.mean(), abs=0.01)


def test_the_white_balance_is_one_multiply_in_linear_light(sample):
    capture = MicroscopeCapture(gains=(0.95, 1.0, 1.05))
    linear = srgb_to_linear(sample) * np.asarray(capture.gains, dtype=np.float32)
    np.testing.assert_array_equal(capture.linear_light(sample), linear)
    np.testing.assert_array_equal(capture.white_balance(sample), linear_to_srgb(linear))
