"""VDSR network and the shipped weights."""

import numpy as np
import pytest
import torch

from microsr_core.models.archs.vdsr import VDSR
from microsr_core.imaging.degrade import bicubic_downscale
from microsr_core.errors import WeightsError
from microsr_core.models.inference import upscale
from microsr_core.imaging.metrics import psnr_y
from microsr_core.models.weights import read_manifest, update_card


def test_shapes_and_receptive_field():
    net = VDSR()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 20
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
        x = torch.zeros(1, 1, 61, 57)
        base = net(x)
        x[0, 0, 30, 28] = 1.0
        changed = (net(x) - base).abs()[0, 0] > 0
    assert base.shape == (1, 1, 61, 57)
    rows, cols = np.nonzero(changed.numpy())
    assert rows.max() - rows.min() + 1 == 41 and cols.max() - cols.min() + 1 == 41


def test_zero_residual_branch_is_the_identity():
    net = VDSR(depth=4, channels=8)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(net(x), x)


def test_fresh_network_starts_at_its_input():
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(VDSR()(x), x)


def test_shipped_weights_beat_bicubic_on_a_real_crop(sample):
    if "vdsr" not in read_manifest():
        pytest.skip("no shipped vdsr weights in weights/manifest.json")
    hr = sample[100:292, 100:292]
    for scale in (2, 4):
        lr = bicubic_downscale(hr, scale)
        try:
            vdsr = upscale(lr, "vdsr", scale, device="cpu")
        except WeightsError as exc:
            pytest.fail(str(exc))
        bicubic = upscale(lr, "bicubic", scale)
        assert psnr_y(vdsr.image, hr, scale) > psnr_y(bicubic.image, hr, scale)


def test_a_shipped_single_scale_model_serves_its_scale(tmp_path, monkeypatch, sample):
    from microsr_core.models.methods.vdsr import VDSRMethod
    from tests.helpers import publish_random

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    multi = publish_random(tmp_path, "vdsr", "vdsr", "VDSR", (2, 3, 4), seed=1, depth=3, channels=8)
    update_card("vdsr", {"role": "fallback"}, tmp_path)
    single = publish_random(tmp_path, "vdsr_x3", "vdsr", "VDSR", (3,), seed=2, depth=5, channels=8)
    method = VDSRMethod(torch.device("cpu"))
    assert method.scales == (2, 3, 4)
    assert [method.served(s).entry for s in (2, 3, 4)] == ["vdsr", "vdsr_x3", "vdsr"]
    assert method.served(3).sha256 == read_manifest(tmp_path)["vdsr_x3"]["sha256"]
    tile = np.ascontiguousarray(sample[:24, :24], dtype=np.float32)
    from microsr_core.models.methods.common import merge_y, to_tensor
    from microsr_core.models.network_input import upscale_ycbcr

    for scale, net in ((2, multi), (3, single), (4, multi)):
        ycbcr = upscale_ycbcr(tile, scale)
        with torch.inference_mode():
            expected = merge_y(net(to_tensor(ycbcr[:, :, 0], torch.device("cpu"))), ycbcr)
            np.testing.assert_allclose(method.process(tile, scale).sr, expected, atol=1e-6)
    # The single model's deeper receptive field sets the tile margin of its scale.
    assert method.margin(3) == -(-5 // 3) + 3 and method.margin(2) == -(-3 // 2) + 3


def _trained(net: VDSR, seed: int = 0) -> VDSR:
    """``net`` with every trunk tensor drawn (no zero last layer hiding a difference)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if not name.startswith("condition."):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return net


def test_conditions_zero_is_the_plain_network():
    plain, zero = VDSR(depth=4, channels=8), VDSR(depth=4, channels=8, conditions=0)
    assert list(plain.state_dict()) == list(zero.state_dict()) and zero.condition is None
    torch.manual_seed(3)
    seeded = VDSR(depth=4, channels=8, conditions=2)
    torch.manual_seed(3)
    for name, value in VDSR(depth=4, channels=8).state_dict().items():  # the branch comes after the trunk's draws
        assert torch.equal(seeded.state_dict()[name], value), name


def test_a_zero_started_branch_returns_what_the_plain_trunk_returns(sample):
    plain = _trained(VDSR(depth=5, channels=16))
    conditioned = VDSR(depth=5, channels=16, conditions=2)
    missing, unexpected = conditioned.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["condition.bias", "condition.weight"] and unexpected == []
    y = torch.from_numpy(np.ascontiguousarray(sample[100:164, 200:260, 1]))[None, None]
    with torch.no_grad():
        want = plain(y)
        assert torch.equal(conditioned(y, torch.tensor([[0.3, 0.7]])), want)
        assert torch.equal(conditioned(y, torch.rand(1, 2, 64, 60)), want)


def test_maps_change_the_output_once_the_branch_is_trained(sample):
    net = _trained(VDSR(depth=5, channels=16, conditions=2))
    with torch.no_grad():
        net.condition.weight.normal_(0, 0.5)
    y = torch.from_numpy(np.ascontiguousarray(sample[100:164, 200:260, 1]))[None, None]
    with torch.no_grad():
        low, high = net(y, torch.tensor([[0.2, 0.5]])), net(y, torch.tensor([[0.8, 0.5]]))
        maps = net(y, torch.tensor([[0.2, 0.5]])[:, :, None, None].expand(1, 2, 64, 60))
    assert (low - high).abs().mean() > 1e-3
    assert torch.allclose(maps, low, atol=1e-6)  # a constant map is its vector broadcast
    assert net.receptive_radius == 5


def test_a_conditioned_network_needs_its_maps_and_a_plain_one_refuses_them():
    y = torch.rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="reads 2 condition maps; got none"):
        VDSR(depth=3, channels=4, conditions=2)(y)
    with pytest.raises(ValueError, match=r"reads 0 condition maps; got \(1, 2\)"):
        VDSR(depth=3, channels=4)(y, torch.zeros(1, 2))


def test_weights_with_capture_maps_run_the_assumption_asked_for_and_others_refuse_it(tmp_path, monkeypatch, sample):
    from microsr_core.errors import ParameterError
    from microsr_core.imaging.capture_maps import CaptureAssumption
    from tests.helpers import publish_random

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr_x2_maps", "vdsr", "VDSR", (2,), card_fields={"lr_kind": "real"}, depth=5, channels=8, conditions=2)
    lr = sample[:60, :60]
    low, high = (upscale(lr, "vdsr", 2, lr_kind="real", capture=CaptureAssumption(noise=level)) for level in ("low", "high"))
    assert np.abs(low.image - high.image).max() > 1e-5  # the maps reach the network (a zero branch gives equal images)
    assert high.capture_maps.line().startswith("capture maps: noise 8.0 (override: noise high), detail ")
    assert high.capture_maps.detail_source == "estimated"
    with pytest.raises(ParameterError, match=r"'bicubic' x2 .* reads no capture maps: the noise/blur assumption \(noise auto, blur high\)"):
        upscale(lr, "bicubic", 2, capture=CaptureAssumption(blur="high"))
    assert upscale(lr, "bicubic", 2, capture=CaptureAssumption()).capture_maps is None  # auto asks nothing of weights without maps
    flipped = upscale(np.ascontiguousarray(lr[:, ::-1]), "vdsr", 2, lr_kind="real", capture=high.capture_maps)
    assert flipped.capture_maps is high.capture_maps  # a flip of the image runs with the maps its result ran with
    with pytest.raises(ParameterError, match="reads no capture maps"):
        upscale(lr, "bicubic", 2, capture=high.capture_maps)
