"""The capture family: physical steps measured, the training family never draws a held-out kind."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from microsr_core.imaging.capture_family import (
    HELD_OUT,
    VALIDATION,
    CameraPipeline,
    CaptureFamily,
    airy_kernel,
    bayer_mosaic,
    coma_kernel,
    denoise,
    demosaic,
    disc_kernel,
    encode,
    line_kernel,
    pipeline_degradation,
    unsharp_mask,
)
from microsr_core.imaging.color import rgb_to_ycbcr
from microsr_core.imaging.degrade import MicroscopeCapture, jpeg_compress, modcrop
from microsr_core.errors import ParameterError
from microsr_core.imaging.metrics import psnr_y


def _ring_profile(kernel: np.ndarray) -> np.ndarray:
    """Mean of ``kernel`` over rings of integer radius about its centre."""
    radius = kernel.shape[0] // 2
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    rings = np.round(np.hypot(y, x)).astype(int)
    return np.bincount(rings.ravel(), kernel.ravel()) / np.bincount(rings.ravel())


def test_airy_kernel_has_its_first_dark_ring_where_optics_puts_it():
    kernel = airy_kernel(first_zero_px=6.0)
    profile = _ring_profile(kernel)
    assert kernel.sum() == pytest.approx(1.0)
    assert int(np.argmin(profile[:9])) == 6  # 0.61 λ/NA in pixels
    assert profile[8] > profile[6]  # the first bright ring beyond it
    assert profile[6] < 0.01 * profile[0]


def test_disc_and_line_kernels_cover_their_area():
    disc = disc_kernel(4.0)
    assert disc.sum() == pytest.approx(1.0)
    assert (disc / disc.max()).sum() == pytest.approx(np.pi * 16, rel=0.03)  # covered area, in pixels
    line = line_kernel(7.0, 0.0)
    assert line.sum() == pytest.approx(1.0)
    assert (line.sum(axis=1) > 0.05).sum() == 1  # one row: a horizontal line
    assert (line.sum(axis=0) > 1e-6).sum() == 7


def test_bayer_mosaic_keeps_one_colour_per_site_and_demosaicing_restores_a_flat_colour():
    colour = np.array([0.7, 0.4, 0.2], dtype=np.float32)
    flat = np.broadcast_to(colour, (16, 16, 3)).copy()
    raw = bayer_mosaic(flat, "RGGB")
    assert raw[0, 0] == pytest.approx(0.7) and raw[0, 1] == pytest.approx(0.4) and raw[1, 1] == pytest.approx(0.2)
    for algorithm in ("bilinear", "malvar", "menon"):
        rgb = demosaic(raw, "RGGB", algorithm)
        np.testing.assert_allclose(rgb[4:-4, 4:-4], flat[4:-4, 4:-4], atol=2e-3, err_msg=algorithm)


def test_jpeg_chroma_subsampling_blurs_colour_edges_more_than_444():
    image = np.zeros((32, 32, 3), dtype=np.float32)
    image[:, 15:, 0] = 1.0  # a red edge on an odd column: 2x2 chroma blocks straddle it
    chroma_error = {mode: np.abs(rgb_to_ycbcr(encode(image, "jpeg", 95, mode))[..., 2] - rgb_to_ycbcr(image)[..., 2]).mean() for mode in ("420", "444")}
    assert chroma_error["420"] > 2 * chroma_error["444"]


def test_unsharp_mask_raises_luma_contrast_and_leaves_chroma():
    image = np.full((16, 16, 3), 0.3, dtype=np.float32)
    image[:, 8:] = 0.6
    sharp = unsharp_mask(image, 1.0, 1.0)
    assert sharp[:, 8].mean() > 0.6 and sharp[:, 7].mean() < 0.3  # overshoot on both sides of the edge
    np.testing.assert_allclose(rgb_to_ycbcr(sharp)[..., 1:], rgb_to_ycbcr(image)[..., 1:], atol=1e-5)


def test_the_training_family_never_draws_a_held_out_kind_of_step():
    family, rng = CaptureFamily(), np.random.default_rng(0)
    draws = [family.sample(rng) for _ in range(400)]
    assert {d.psf for d in draws} == {"gaussian", "airy", "disc"}
    assert {d.demosaic for d in draws} == {"bilinear", "malvar"}
    assert {d.denoise for d in draws} == {"gaussian", "median", "guided"}
    assert {d.resample for d in draws} == {"bilinear", "bicubic"}
    assert {d.codec for d in draws} == {"jpeg", "none"}
    assert all(d.tone == 0 and d.vignetting == 0 and d.lateral_ca == 0 for d in draws)
    assert {d.processing for d in draws} >= {("denoise", "sharpen"), ("sharpen", "denoise")}  # both orders
    assert min(d.capture.full_well for d in draws) < 300  # down to a phone's photon budget
    # each held-out pipeline has at least one step of a kind the family never drew
    for name, pipeline in HELD_OUT.items():
        unseen = (pipeline.psf in ("motion", "coma"), pipeline.demosaic == "menon" and bool(pipeline.cfa), pipeline.denoise == "bilateral" and "denoise" in pipeline.processing,
                  pipeline.resample == "lanczos" and pipeline.grid != 1, pipeline.codec in ("webp", "jpeg2000"), pipeline.tone > 0, pipeline.vignetting > 0,
                  pipeline.lateral_ca > 0, pipeline.hot_pixels > 0)
        assert sum(unseen) >= 2, name
    assert all(d.hot_pixels == 0 and d.coma_waves == 0 for d in draws)
    assert all(d.column_noise == 0 for d in draws) and {d.chroma for d in draws} == {"420", "444"}
    # each validation pipeline has steps of kinds neither the family nor a held-out pipeline has
    for name, pipeline in VALIDATION.items():
        unseen = (pipeline.column_noise > 0, pipeline.resample == "box" and pipeline.grid != 1, pipeline.chroma == "422" and pipeline.codec == "jpeg")
        assert sum(unseen) >= 2, name
        assert all(p.column_noise == 0 and p.resample != "box" and p.chroma != "422" for p in HELD_OUT.values())


def test_a_family_capture_is_reproducible_from_its_seed_and_differs_between_seeds(sample):
    hr = modcrop(sample[:96, :96], 4)
    family = CaptureFamily()
    first, again, other = family.apply(hr, 4, seed=3), family.apply(hr, 4, seed=3), family.apply(hr, 4, seed=4)
    assert first.shape == (24, 24, 3)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 1e-3
    lr, target = family.pair(hr, 2, np.random.default_rng(1))
    assert lr.shape == (48, 48, 3) and target.shape == hr.shape


@pytest.mark.parametrize("name", sorted(HELD_OUT) + sorted(VALIDATION))
def test_held_out_pipelines_make_a_plausible_lr_and_keep_a_grey_field_grey(sample, name):
    degradation = pipeline_degradation(name, 2)
    lr = degradation.apply(sample[:120, :160])
    assert lr.shape == (60, 80, 3) and 0 <= lr.min() and lr.max() <= 1
    assert name in degradation.describe()
    grey = np.full((64, 64, 3), 0.55, dtype=np.float32)
    captured = pipeline_degradation(name, 2).apply(grey)
    chroma = rgb_to_ycbcr(captured)[..., 1:] - 128 / 255
    assert np.abs(chroma.mean(axis=(0, 1))).max() < 4 / 255  # no colour cast from the camera chain


def test_noiseless_pipeline_drops_sensor_noise_and_file(sample):
    pipeline = HELD_OUT["phone"]
    hr = sample[:64, :64]
    quiet = pipeline.noiseless()
    np.testing.assert_allclose(quiet.apply(hr, 2, seed=1, quantize=False), quiet.apply(hr, 2, seed=2, quantize=False), atol=1e-4)
    assert psnr_y(quiet.apply(hr, 2, seed=1), pipeline.apply(hr, 2, seed=1)) < 60


def test_bad_pipeline_settings_and_names_are_refused():
    with pytest.raises(ParameterError, match="psf"):
        CameraPipeline(psf="square")
    with pytest.raises(ParameterError, match="quality"):
        replace(HELD_OUT["phone"], quality=0)
    with pytest.raises(ParameterError, match="unknown capture pipeline"):
        pipeline_degradation("microscopy", 2)
    assert CaptureFamily.from_text("na=0.3:0.4").ranges.na == (0.3, 0.4)
    assert CaptureFamily.from_text("na=0.3:0.4").ranges.full_well == CaptureFamily().ranges.full_well
    assert isinstance(CaptureFamily().sample(np.random.default_rng(0)).capture, MicroscopeCapture)


def test_the_reference_carries_the_photometric_steps_and_nothing_else(sample):
    hr = modcrop(sample[:64, :64], 2)
    phone = pipeline_degradation("phone", 2)
    reference = phone.reference(hr)
    assert reference.shape == hr.shape and np.abs(reference - hr).mean() > 0.01  # tone curve and vignetting
    np.testing.assert_allclose(replace(HELD_OUT["phone"], tone=0.0, vignetting=0.0).reference(hr), hr, atol=2e-6)
    np.testing.assert_allclose(pipeline_degradation("scanner", 2).reference(hr), hr, atol=2e-6)  # no photometric step


def test_one_jpeg_path_gives_the_pixels_of_pils_default_jpeg_on_a_real_image(sample):
    """``encode``'s JPEG is :func:`jpeg_compress`, whose 4:2:0 is what PIL writes without a subsampling option."""
    image = sample[:96, :128]
    for quality in (50, 90):
        buffer = io.BytesIO()
        Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
        plain = np.asarray(Image.open(buffer)).astype(np.float32) / 255.0
        np.testing.assert_array_equal(jpeg_compress(image, quality), plain)
        np.testing.assert_array_equal(encode(image, "jpeg", quality, "420"), plain)
        np.testing.assert_array_equal(encode(image, "jpeg", quality, "444"), jpeg_compress(image, quality, "444"))
    assert not np.array_equal(jpeg_compress(image, 50, "444"), jpeg_compress(image, 50))


def test_the_family_parses_its_ranges_with_the_shared_parser_over_its_own_defaults():
    family = CaptureFamily.from_text("na=0.3:0.4, read_noise=2")
    assert family.ranges == replace(CaptureFamily().ranges, na=(0.3, 0.4), read_noise=(2.0, 2.0))
    assert CaptureFamily.from_text(None) == CaptureFamily.from_text("") == CaptureFamily()
    for text, message in [("colour=1", "KEY one of"), ("na=x", "not a number"), ("na=0.5:0.4", "above high")]:
        with pytest.raises(ParameterError, match=message):
            CaptureFamily.from_text(text)


def test_column_offsets_draw_vertical_stripes_and_leave_other_pipelines_unchanged():
    grey = np.full((128, 128, 3), 0.5, dtype=np.float32)
    plain = CameraPipeline(capture=MicroscopeCapture(full_well=1e9, read_noise=0.0, jpeg_quality=0))  # no noise of its own
    striped = replace(plain, column_noise=5e6)  # 0.5 % of the full well
    frame = striped.apply(grey, 2, seed=1, quantize=False)
    columns, rows = frame[..., 1].mean(axis=0), frame[..., 1].mean(axis=1)
    assert columns.std() > 0.002 and rows.std() < 0.1 * columns.std()  # offsets per column, constant down it
    np.testing.assert_array_equal(plain.apply(grey, 2, seed=1), replace(striped, column_noise=0.0).apply(grey, 2, seed=1))
    assert striped.noiseless().column_noise == 0
    with pytest.raises(ParameterError, match="column noise"):
        replace(plain, column_noise=-1.0)


def test_422_chroma_halves_colour_detail_across_but_not_down():
    stripes = np.zeros((64, 64, 3), dtype=np.float32)
    stripes[..., 0] = np.indices((64, 64))[1] % 2  # red and black alternate across: chroma detail of 1 px
    across = jpeg_compress(stripes, 95, "422")
    down = jpeg_compress(stripes.transpose(1, 0, 2), 95, "422")
    assert np.abs(down - stripes.transpose(1, 0, 2)).mean() < 0.5 * np.abs(across - stripes).mean()
    with pytest.raises(ParameterError, match="chroma must be one of 420, 422, 444"):
        jpeg_compress(stripes, 90, "411")


def test_coma_kernel_is_the_airy_pattern_without_coma_and_a_centred_comet_with_it():
    plain = coma_kernel(5.0, 0.0, 0.0)
    airy = airy_kernel(5.0)
    inner = plain.shape[0] // 2 - airy.shape[0] // 2
    core = plain[inner : inner + airy.shape[0], inner : inner + airy.shape[1]]
    np.testing.assert_allclose(core / core.sum(), airy, atol=0.005 * airy.max())
    comet = coma_kernel(5.0, 0.3, 0.0)
    y, x = np.mgrid[: comet.shape[0], : comet.shape[1]] - comet.shape[0] // 2
    assert comet.sum() == pytest.approx(1.0)
    assert abs((comet * x).sum()) < 0.1 and abs((comet * y).sum()) < 0.1  # centroid on the ideal point
    np.testing.assert_allclose(comet, comet[::-1], atol=1e-6)  # symmetric about the coma's axis (here x) ...
    assert np.abs(comet - comet[:, ::-1]).max() > 0.2 * comet.max()  # ... and lopsided along it
    assert comet.max() < 0.8 * plain.max()  # energy moved from the core into the tail


def test_hot_pixels_light_isolated_sites_and_leave_other_pipelines_unchanged():
    dark = np.full((128, 128, 3), 0.05, dtype=np.float32)
    plain = CameraPipeline(capture=MicroscopeCapture(full_well=1e9, read_noise=0.0, jpeg_quality=0))
    hot = replace(plain, hot_pixels=0.002)
    frame = hot.apply(dark, 2, seed=1, quantize=False)
    bright = frame.max(axis=-1) > 0.3
    assert 0.5 * 0.002 * 64 * 64 * 3 < bright.sum() <= round(0.002 * 64 * 64 * 3)  # one colour plane of each hot site
    np.testing.assert_array_equal(plain.apply(dark, 2, seed=1), replace(hot, hot_pixels=0.0).apply(dark, 2, seed=1))
    assert hot.noiseless().hot_pixels == 0
    with pytest.raises(ParameterError, match="hot pixels"):
        replace(plain, hot_pixels=0.5)


def test_jpeg2000_reaches_its_target_psnr_with_wavelet_blur_not_blocks(sample):
    image = sample[:96, :128]
    for target in (32, 40):
        decoded = encode(image, "jpeg2000", target)
        error = np.mean((decoded - image) ** 2)
        assert 10 * np.log10(1 / error) == pytest.approx(target, abs=1.5)
    decoded = encode(image, "jpeg2000", 32)
    block_edges = np.abs(np.diff(decoded - image, axis=1))[:, 7::8].mean()
    inside = np.abs(np.diff(decoded - image, axis=1)).mean()
    assert block_edges < 1.3 * inside  # no 8x8 grid in the error, as JPEG leaves


def test_a_pipeline_refuses_an_unknown_chroma_subsampling_when_made():
    with pytest.raises(ParameterError, match="chroma must be one of"):
        CameraPipeline(codec="jpeg", chroma="411")


def test_guided_denoising_flattens_noise_and_keeps_an_edge():
    rng = np.random.default_rng(0)
    step = np.full((48, 48, 3), 0.3, dtype=np.float32)
    step[:, 24:] = 0.7
    noisy = np.clip(step + rng.normal(0, 0.02, step.shape), 0, 1).astype(np.float32)
    out = denoise(noisy, "guided", 1.0)
    flat = (slice(4, 44), slice(4, 18))
    assert out[flat].std() < 0.5 * noisy[flat].std()  # noise of 0.02 is under the filter's 0.03: averaged away
    assert out[:, 25:30].mean() - out[:, 18:23].mean() == pytest.approx(0.4, abs=0.02)  # the 0.4 edge kept
    assert np.abs(out[:, 23] - out[:, 24]).mean() > 0.3  # and sharp: still one pixel wide
