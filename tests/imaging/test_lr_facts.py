"""No-reference facts of an LR image: JPEG quality from the file, noise and resolution from the pixels."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from microsr_core.imaging.degrade import Degradation, MicroscopeCapture
from microsr_core.imaging.io import encode_image, load_image
from microsr_core.imaging.lr_facts import RESOLUTION_REAL, effective_resolution, lr_facts, noise_levels

SMEAR = Path(__file__).resolve().parents[2] / "microsr_core" / "samples" / "bccd_BloodImage_00000.jpg"


@pytest.fixture(scope="module")
def smear() -> np.ndarray:
    """The bundled BCCD field: a smear with flat background between the cells."""
    return load_image(SMEAR).pixels


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize("quality", [60, 80, 90, 95])
def test_jpeg_quality_is_read_from_the_quantisation_table(sample, quality):
    assert load_image(_jpeg(sample[:64, :64], quality)).jpeg_quality == quality
    assert load_image(encode_image(sample[:64, :64], "png")).jpeg_quality is None


@pytest.mark.parametrize("sigma", [0.5, 2.0, 6.0])
def test_noise_estimate_matches_white_noise_on_a_flat_field(sigma):
    rng = np.random.default_rng(0)
    flat = np.clip(0.6 + rng.normal(0, sigma / 255, (240, 320, 3)), 0, 1).astype(np.float32)
    assert noise_levels(flat) == pytest.approx(sigma, rel=0.08)


def test_noise_estimate_ignores_the_edges_of_a_smear(smear):
    rng = np.random.default_rng(1)
    noisy = np.clip(smear + rng.normal(0, 3 / 255, smear.shape), 0, 1).astype(np.float32)
    assert noise_levels(smear) < 0.6
    assert noise_levels(noisy) == pytest.approx(3.0, rel=0.1)


def test_resolution_is_lower_for_a_capture_than_for_a_bicubic_downscale(smear):
    bicubic = Degradation("bicubic", 2).apply(smear)
    capture = Degradation("microscope", 2, capture=MicroscopeCapture(jpeg_quality=0)).apply(smear)
    sharp, blurred = (effective_resolution(lr[..., 1], noise_levels(lr) / 255) for lr in (bicubic, capture))
    assert sharp >= RESOLUTION_REAL > blurred
    assert effective_resolution(np.zeros((64, 64)), 0.0) == 0.0


def test_facts_suggest_the_lr_kind_with_a_reason(smear):
    bicubic = lr_facts(load_image(encode_image(Degradation("bicubic", 2).apply(smear), "png")))
    assert bicubic.suggested_kind == "bicubic" and bicubic.jpeg_quality is None
    jpeg = lr_facts(load_image(_jpeg(Degradation("bicubic", 2).apply(smear), 85)))
    assert jpeg.suggested_kind == "real" and "JPEG (quality ~85)" in jpeg.reason
    blurred = lr_facts(load_image(encode_image(Degradation("microscope", 2, capture=MicroscopeCapture(jpeg_quality=0)).apply(smear), "png")))
    assert blurred.suggested_kind == "real" and "Nyquist" in blurred.reason
    tiny = lr_facts(load_image(encode_image(smear[:8, :8], "png")))
    assert tiny.resolution is None and "too small" in " ".join(tiny.lines())
    assert any(line.startswith("suggested: a real capture") for line in jpeg.lines())
