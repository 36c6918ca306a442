"""The precision policy's pieces that inference adds: choice checking, float32 image convolutions."""

import pytest
import torch

from microsr_core.models.archs.microgan import MicroGANGenerator
from microsr_core.models.archs.prior import PriorSRNet
from microsr_core.models.archs.vdsr import VDSR
from microsr_core.errors import ParameterError
from microsr_core.models.precision import Float32Conv, autocast, checked_choice, image_convs_in_fp32, resolve_precision

CPU = torch.device("cpu")


def _random(net: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0, 0.05)
    return net.eval()


def test_choices_are_checked_and_fp16_is_for_cuda():
    assert checked_choice("BF16") == "bf16" and checked_choice(None) == "auto"
    with pytest.raises(ParameterError, match="unknown precision 'fp8'"):
        checked_choice("fp8")
    with pytest.raises(ParameterError, match="fp16 is for CUDA"):
        resolve_precision("fp16", CPU)
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"


def test_only_the_convolutions_that_read_an_image_are_wrapped():
    net = image_convs_in_fp32(_random(PriorSRNet(channels=8, blocks=1, decoder_blocks=1, unet_base=4, unet_depth=2)))
    wrapped = {name for name, module in net.named_modules() if isinstance(module, Float32Conv)}
    # The shallow layer and the U-Net read Y; the mask encoder reads the 3 class probabilities.
    assert wrapped == {"shallow.0", "prior_net.down.0.0", "mask_encoder.0.0"}


def test_a_wrapped_convolution_ignores_autocast():
    conv = _random(torch.nn.Conv2d(1, 8, 3, padding=1))
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        exact = conv(x)
        with autocast("bf16", CPU):
            plain = conv(x)
            kept = Float32Conv(conv)(x)
    assert plain.dtype == torch.bfloat16 and (plain.float() - exact).abs().max() > 1e-4
    assert kept.dtype == torch.float32 and torch.equal(kept, exact)


@pytest.mark.parametrize(
    "net",
    [VDSR(depth=4, channels=8), PriorSRNet(channels=8, blocks=1, decoder_blocks=1, unet_base=4, unet_depth=2),
     MicroGANGenerator(levels=2, width=4)],
    ids=["vdsr", "prior", "microgan"],
)
def test_networks_return_float32_under_bf16_autocast(net):
    net = image_convs_in_fp32(_random(net))
    x = torch.rand(1, 3 if isinstance(net, MicroGANGenerator) else 1, 24, 24)
    with torch.no_grad():
        exact = net(x)
        with autocast("bf16", CPU):
            reduced = net(x)
    exact, reduced = (getattr(out, "sr", out) for out in (exact, reduced))
    assert reduced.dtype == torch.float32
    difference = (reduced - exact).abs().max().item()
    assert 0 < difference < 0.02  # bf16 really ran, and stayed close
