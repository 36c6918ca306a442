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
