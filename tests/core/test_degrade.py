import numpy as np
import pytest

from microsr_core.degrade import (
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
