"""MicroGAN networks, the method on whole fields and single cells, and the shipped weights."""

import numpy as np
import pytest
import torch

from microsr_core.models.archs import parameter_count
from microsr_core.models.archs.microgan import FixedSizeCritic, MicroGANCritic, MicroGANGenerator
from microsr_core.imaging.color import rgb_to_ycbcr
from microsr_core.imaging.degrade import Degradation, modcrop
from microsr_core.errors import WeightsError
from microsr_core.models.inference import upscale
from microsr_core.models.methods.microgan import MicroGANMethod
from microsr_core.imaging.metrics import invented_colour, psnr_y, ssim_y
from microsr_core.models.serving import served
from microsr_core.models.weights import read_manifest
from tests.helpers import publish_random

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ODD_SIZES = [(1, 1), (5, 3), (37, 23), (23, 64)]


@pytest.mark.parametrize("height, width", ODD_SIZES)
def test_generator_and_critic_take_odd_non_square_sizes(height, width):
    torch.manual_seed(0)
    generator = MicroGANGenerator(levels=3, width=4)
    torch.nn.init.normal_(generator.head.weight, 0, 0.5)  # not the identity
    critic = MicroGANCritic(width=4, downsamplings=3)
    x = torch.rand(2, 3, height, width)
    with torch.no_grad():
        y = generator(x)
        scores = critic(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert scores.shape == (2,) and torch.isfinite(scores).all()


def test_generator_has_the_papers_size():
    generator = MicroGANGenerator()
    assert 2.9e6 < parameter_count(generator) < 3.2e6  # Table 3: 3.06 M
    assert generator.size_multiple == 8


def test_fresh_residual_generator_returns_its_input():
    x = torch.rand(1, 3, 21, 30) * 0.98 + 0.01
    with torch.no_grad():
        torch.testing.assert_close(MicroGANGenerator(levels=3, width=4)(x), x, atol=1e-5, rtol=0)


def test_plain_generator_ends_in_a_sigmoid():
    generator = MicroGANGenerator(levels=2, width=4, residual=False)
    with torch.no_grad():
        generator.head.bias.fill_(50.0)
        assert torch.allclose(generator(torch.rand(1, 3, 8, 8)), torch.ones(1))


@pytest.mark.parametrize("levels", [2, 3])
def test_receptive_radius_bounds_the_support(levels):
    """With positive weights every ReLU passes, so the gradient support is the whole field."""
    generator = MicroGANGenerator(levels=levels, width=2, residual=False).double()
    for parameter in generator.parameters():
        torch.nn.init.uniform_(parameter, 0, 0.1)
    x = torch.rand(1, 3, 96, 96, dtype=torch.double, requires_grad=True)
    generator.body(x)[0, 0, 48, 49].backward()
    rows, cols = np.nonzero(x.grad.abs().sum(1)[0].numpy())
    reach = max(48 - rows.min(), rows.max() - 48, 49 - cols.min(), cols.max() - 49)
    assert generator.receptive_radius - 2 <= reach <= generator.receptive_radius


def test_fixed_size_critic_takes_only_its_size():
    critic = FixedSizeCritic(width=4, downsamplings=4, size=128, hidden=16)
    assert critic(torch.rand(3, 3, 128, 128)).shape == (3,)
    with pytest.raises(ValueError, match="128x128"):
        critic(torch.rand(1, 3, 100, 128))


@pytest.fixture
def random_microgan(tmp_path, monkeypatch):
    """The method with a tiny random generator published in a private weights folder."""
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "microgan", "microgan", "MicroGANGenerator", (1, 2, 4), levels=3, width=4)
    return MicroGANMethod(torch.device("cpu"))


def test_method_runs_tiled_on_a_whole_field_like_in_one_piece(random_microgan, sample):
    assert random_microgan.scales == (1, 2, 4)
    lr = sample[:90, :130]
    whole = upscale(lr, random_microgan, 2, tile=0)
    tiled = upscale(lr, random_microgan, 2, tile=48)
    assert whole.image.shape == (180, 260, 3) and tiled.tiles > 1
    # Pooling makes tiles agree only up to the grid offset; the blend keeps them close.
    assert psnr_y(tiled.image, whole.image) > 40


def test_method_restores_a_same_size_gaussian_blurred_cell(random_microgan, sample):
    cell = sample[200:263, 300:347]  # odd, non-square
    blurred = Degradation("gaussian", 1).apply(cell)
    result = upscale(blurred, random_microgan, 1)
    assert result.image.shape == cell.shape
    with pytest.raises(Exception, match="supports scales"):
        upscale(blurred, random_microgan, 3)


def test_the_upscale_generator_serves_x2_to_x4_as_one_network(tmp_path, monkeypatch, sample):
    from microsr_core.models.methods.microgan import MicroGANFSMethod

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    deblur = publish_random(tmp_path, "microgan", "microgan", "MicroGANGenerator", (1,), seed=1, levels=3, width=4)
    publish_random(tmp_path, "microgan_fs", "microgan_fs", "MicroGANGenerator", (1,), seed=2, levels=3, width=4)
    restore = publish_random(tmp_path, "microgan_upscale", "microgan", "MicroGANGenerator", (2, 3, 4), seed=3, levels=2, width=6)
    method = MicroGANMethod(torch.device("cpu"))
    assert method.scales == (1, 2, 3, 4)
    assert method.network(2) is method.network(4) and method.network(1) is not method.network(2)
    assert [method.served(s).entry for s in (1, 2, 3, 4)] == ["microgan", "microgan_upscale", "microgan_upscale", "microgan_upscale"]
    tile = np.ascontiguousarray(sample[:24, :24], dtype=np.float32)
    from microsr_core.imaging.degrade import bicubic_upscale

    for scale, net, image in ((1, deblur, tile), (3, restore, np.clip(bicubic_upscale(tile, 3), 0, 1))):
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            expected = net(x)[0].numpy().transpose(1, 2, 0)
            np.testing.assert_allclose(method.process(tile, scale).sr, expected, atol=1e-5)
    # The fixed-size-critic ablation is the paper's x1 setting only: it does not borrow the upscaler.
    assert MicroGANFSMethod(torch.device("cpu")).scales == (1,)


def test_shipped_weights_beat_bicubic_on_a_real_crop(sample):
    if "microgan" not in read_manifest():
        pytest.skip("no shipped microgan weights in weights/manifest.json")
    try:
        method = MicroGANMethod(torch.device("cpu"))
    except WeightsError as exc:
        pytest.fail(str(exc))
    hr = sample[100:292, 100:292]
    for scale in [s for s in (1, 2, 4) if s in method.scales]:
        kind = "gaussian" if scale == 1 else "bicubic"
        lr = Degradation(kind, scale).apply(hr)
        reference = modcrop(hr, scale)
        sr = upscale(lr, method, scale).image
        baseline = upscale(lr, "bicubic", scale).image
        assert psnr_y(sr, reference, scale) > psnr_y(baseline, reference, scale)
        assert ssim_y(sr, reference, scale) > ssim_y(baseline, reference, scale)


def _untrained_generator(keep_chroma: bool) -> MicroGANGenerator:
    torch.manual_seed(0)
    generator = MicroGANGenerator(levels=3, width=8, keep_chroma=keep_chroma)
    torch.nn.init.normal_(generator.head.weight, 0, 0.5)  # a generator that invents, as an untrained one does
    return generator.eval()


def test_keep_chroma_keeps_a_grey_image_grey_where_a_free_generator_tints_it():
    grey = torch.full((1, 3, 32, 32), 0.5)
    grey[..., 10:20, :] = 0.56  # a faint, out-of-focus grey fibre across the field
    with torch.no_grad():
        free, kept = (_untrained_generator(flag)(grey) for flag in (False, True))
    chroma = lambda rgb: rgb_to_ycbcr(rgb[0].permute(1, 2, 0).numpy())[..., 1:]  # noqa: E731
    assert np.abs(chroma(free) - chroma(grey)).max() > 5 / 255  # the free generator paints colour
    np.testing.assert_allclose(chroma(kept), chroma(grey), atol=1e-5)  # the kept one cannot
    assert (kept - grey).abs().max().item() > 1e-3  # and still changes luma


def test_keep_chroma_changes_no_tensor_so_weights_trained_without_it_load():
    free = _untrained_generator(False)
    kept = MicroGANGenerator(levels=3, width=8, keep_chroma=True)
    kept.load_state_dict(free.state_dict())
    assert MicroGANGenerator.tensor_free_kwargs == ("keep_chroma",)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_shipped_real_capture_microgan_paints_no_colour_on_a_faint_grey_fibre(scale):
    """Issue 37's case: an out-of-focus grey fibre over a bluish smear background must not turn
    into nucleus purple, and a grey image must stay grey (the real-capture card keeps chroma)."""
    assert served("microgan", scale, "real").card["arch_kwargs"].get("keep_chroma") is True
    rng = np.random.default_rng(0)
    field = np.empty((48, 64, 3), dtype=np.float32)
    field[:] = (0.80, 0.78, 0.86)  # the bluish background of a stained smear
    field[20:25] -= 0.06  # the fibre: faint, grey (the same drop in every channel)
    field = np.clip(field + rng.normal(0, 0.01, field.shape).astype(np.float32), 0, 1)
    grey = np.full((32, 32, 3), 0.5, dtype=np.float32)
    for lr in (field, grey):
        result = upscale(lr, "microgan", scale, tile=0, precision="fp32", lr_kind="real")
        bicubic = upscale(lr, "bicubic", scale).image
        chroma = lambda rgb: rgb_to_ycbcr(rgb)[..., 1:]  # noqa: E731
        assert np.abs(chroma(result.image) - chroma(bicubic)).max() < 2 / 255  # within clipping: the input's colour
        assert invented_colour(result.image, bicubic, bicubic) == 0.0


def test_anchoring_replaces_the_low_frequencies_of_luma_and_keeps_the_detail():
    from scipy import ndimage

    from microsr_core.models.methods.microgan import anchor_luminance

    rng = np.random.default_rng(0)
    upscaled = np.clip(ndimage.gaussian_filter(rng.uniform(0.3, 0.8, (96, 128, 3)), (6, 6, 0)), 0, 1).astype(np.float32)
    detail = 0.03 * np.sign(np.sin(np.arange(128) * np.pi / 2))[None, :, None]  # a 4-pixel pattern on every row
    sr = np.clip(upscaled + 0.02 + detail, 0, 1).astype(np.float32)  # brighter by 5 grey levels, with detail
    anchored = anchor_luminance(sr, upscaled, 2, 16)
    y = lambda rgb: rgb_to_ycbcr(rgb)[..., 0]  # noqa: E731
    low = lambda plane: ndimage.gaussian_filter(plane, 32, mode="reflect")  # noqa: E731  16 LR pixels at x2
    inside = np.s_[24:-24, 24:-24]
    assert abs(low(y(sr) - y(upscaled))).mean() > 4 / 255  # the offset is there before
    assert abs(low(y(anchored) - y(upscaled)))[inside].max() < 0.3 / 255  # and gone after
    np.testing.assert_allclose((y(anchored) - low(y(anchored)))[inside], (y(sr) - low(y(sr)))[inside], atol=1 / 255)
    np.testing.assert_allclose(rgb_to_ycbcr(anchored)[..., 1:], rgb_to_ycbcr(sr)[..., 1:], atol=1e-5)  # chroma untouched


@pytest.mark.parametrize("scale", [2, 4])
def test_the_real_capture_microgan_keeps_the_captures_brightness_tiled_or_not(scale, sample):
    """Real captures: the output's luminance below 16 LR pixels is the bicubic upscale's, in one
    piece and in tiles (the margin covers the anchoring's reach); clean-LR weights are not anchored."""
    from scipy import ndimage

    from microsr_core.models.methods.microgan import ANCHOR_REACH

    method = MicroGANMethod(torch.device("cpu"), lr_kind="real")
    assert method.anchors(scale) and method.margin(scale) >= ANCHOR_REACH
    assert not MicroGANMethod(torch.device("cpu")).anchors(scale)
    lr = np.ascontiguousarray(sample[:200, :260])
    whole = upscale(lr, method, scale, tile=0, precision="fp32")
    tiled = upscale(lr, method, scale, tile=4 * ANCHOR_REACH, precision="fp32")
    assert tiled.tiles > 1 and psnr_y(tiled.image, whole.image) > 45
    y = lambda rgb: rgb_to_ycbcr(rgb)[..., 0]  # noqa: E731
    offset = ndimage.gaussian_filter(y(whole.image) - y(upscale(lr, "bicubic", scale).image), 16 * scale)
    inside = np.s_[32 * scale:-32 * scale, 32 * scale:-32 * scale]  # two sigmas in: the borders reflect differently
    assert abs(offset[inside]).max() < 0.75 / 255  # unanchored here: 1.4 grey levels at x2, 4.6 at x4
