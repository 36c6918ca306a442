"""No-reference facts of an LR image: JPEG quality from the file, noise and resolution from the pixels."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from microsr_core.imaging.degrade import Degradation, MicroscopeCapture
from microsr_core.imaging.io import encode_image, load_image
from microsr_core.imaging import lr_facts as facts_module
from microsr_core.imaging.lr_facts import (
    MIN_SIDE, blockiness, coarse_noise, edge_sharpness, effective_resolution, lr_facts, noise_error, noise_levels, pixel_facts,
)

SAMPLES = Path(__file__).resolve().parents[2] / "microsr_core" / "samples"
SMEAR = SAMPLES / "bccd_BloodImage_00000.jpg"


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
    assert sharp > blurred
    assert effective_resolution(np.zeros((64, 64)), 0.0) == 0.0


def test_a_low_quality_jpeg_file_suggests_a_real_capture_and_says_why(smear):
    jpeg = lr_facts(load_image(_jpeg(Degradation("bicubic", 2).apply(smear), 85)))
    assert jpeg.suggested_kind == "real" and jpeg.confidence == 1.0 and "JPEG of quality 85" in jpeg.reason
    assert jpeg.lines()[-1].startswith("suggested: a real capture (100% confident), because")


@pytest.mark.parametrize("side", [1, 8, MIN_SIDE - 1])
def test_an_image_too_small_to_measure_says_cant_tell_and_suggests_nothing(side, recwarn):
    facts = lr_facts(load_image(encode_image(np.full((side, side, 3), 0.5, np.float32), "png")))
    text = " ".join(facts.lines())
    assert facts.suggested_kind is None and facts.noise_levels is None and facts.resolution is None
    assert "nan" not in text and "can't tell" in text and "bicubic" not in text and "real capture" not in text
    assert not [w for w in recwarn if "empty slice" in str(w.message)]


def test_the_suggestion_names_only_facts_that_point_its_way(smear):
    for lr in (Degradation("bicubic", 2).apply(smear), Degradation("microscope", 4).apply(smear)):
        facts = lr_facts(load_image(encode_image(lr, "png")))
        if facts.suggested_kind == "bicubic":
            assert "JPEG block grid in the pixels" not in facts.reason.replace("no JPEG block grid", "")
        if facts.suggested_kind == "real":
            assert "no JPEG block grid" not in facts.reason and "little noise" not in facts.reason
        assert facts.confidence is None or 0.5 <= facts.confidence <= 1


def test_png_and_high_quality_jpeg_of_a_field_agree_on_the_file_facts(smear):
    lr = Degradation("bicubic", 2).apply(smear)
    png_facts, jpeg_facts = (lr_facts(load_image(data)) for data in (encode_image(lr, "png"), _jpeg(lr, 95)))
    assert "JPEG of quality" not in png_facts.reason + jpeg_facts.reason  # a q95 file decides nothing by itself
    assert png_facts.noise_levels == pytest.approx(jpeg_facts.noise_levels, abs=0.5)


def test_noise_has_an_error_bar_and_jpeg_leaves_a_block_grid(smear):
    rng = np.random.default_rng(2)
    flat = np.clip(0.6 + rng.normal(0, 2 / 255, (128, 128, 3)), 0, 1).astype(np.float32)
    assert 0 < noise_error(flat) < 0.3
    lr = Degradation("bicubic", 2).apply(smear)
    assert blockiness(load_image(_jpeg(lr, 50)).pixels[..., 1]) > blockiness(lr[..., 1]) + 0.2


@pytest.mark.parametrize("field", ["bccd_BloodImage_00000.jpg", "wbc_dataset2_001.png"])
@pytest.mark.parametrize("scale", [2, 4])
def test_the_kind_is_right_and_the_same_for_png_and_high_quality_jpeg(field, scale):
    """Both bundled fields: a bicubic downscale reads "bicubic", the project's microscope capture
    (its camera JPEG q90 in the pixels) "real", each as PNG and as JPEG q90 and q95, confidently."""
    hr = load_image(SAMPLES / field).pixels
    for family, truth in (("bicubic", "bicubic"), ("microscope", "real")):
        lr = Degradation(family, scale).apply(hr)
        for data in (encode_image(lr, "png"), _jpeg(lr, 90), _jpeg(lr, 95)):
            facts = lr_facts(load_image(data))
            assert (facts.suggested_kind, "JPEG of quality" in facts.reason) == (truth, False)
            assert facts.confidence > 0.7


def test_the_reason_describes_each_named_fact_as_it_stands(smear):
    """Every phrase of the reason is what its fact says on its own side of the training mean, so the
    reason cannot call a field sharp whose facts say soft (issue 40: a 66 % resolution "up to Nyquist")."""
    for lr in (Degradation("bicubic", 2).apply(smear), Degradation("microscope", 2).apply(smear), smear[::3, ::3]):
        facts = pixel_facts(lr)
        truths = {facts_module._SAYS[name][0 if facts[name] > centre else 1] for name, centre, _ in facts_module.SCORE_FACTS if facts_module._SAYS[name]}
        reason = lr_facts(load_image(encode_image(lr, "png"))).reason
        assert reason and all(phrase in truths for phrase in reason.split(" and "))


def test_edge_sharpness_is_one_for_a_step_and_falls_with_blur():
    step = np.tile(np.where(np.arange(64) < 32, 40.0, 200.0), (64, 1))
    blurred = np.tile(40 + 160 / (1 + np.exp(-(np.arange(64) - 31.5) / 1.0)), (64, 1))  # a logistic edge, σ ≈ 1.8 px
    assert edge_sharpness(step, 15, 99) == pytest.approx(1.0)
    assert 0.2 < edge_sharpness(blurred, 15, 99) < 0.4
    assert edge_sharpness(np.full((64, 64), 100.0), 15, 99) == 0.0  # no edge: nothing to measure


def test_coarse_noise_is_white_noise_averaged_over_two_by_two_pixels():
    rng = np.random.default_rng(3)
    assert coarse_noise(128 + rng.normal(0, 4, (256, 256))) == pytest.approx(2.0, rel=0.1)


def test_each_fact_states_its_error_bar(smear):
    lr = Degradation("bicubic", 2).apply(smear)
    png, jpeg = (lr_facts(load_image(data)).lines() for data in (encode_image(lr, "png"), _jpeg(lr, 95)))
    assert all("±" in line for line in png[0:1] + png[2:4]) and "lower bound" not in png[0]
    assert "lower bound" in jpeg[0]  # a JPEG took some of the noise: the estimate says so


def test_a_thirty_pixel_lr_is_measured_and_read_right():
    """A 120 px field at x4 (wbc_seg dataset1's size) is 30 px on a side, above MIN_SIDE: it gets facts and a kind."""
    hr = load_image(SAMPLES / "wbc_dataset2_001.png").pixels[90:210, 90:210]
    for family, truth in (("bicubic", "bicubic"), ("microscope", "real")):
        facts = lr_facts(load_image(encode_image(Degradation(family, 4).apply(hr), "png")))
        assert facts.noise_levels is not None and facts.suggested_kind == truth and facts.confidence > 0.9
