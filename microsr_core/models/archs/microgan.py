"""MicroGAN networks (Gautam et al., paper ``004_67d765c92f46390f``, §2, §3.3, Fig. 1).

- :class:`MicroGANGenerator`: a trimmed U-Net (three poolings instead of the original four),
  3×3 convolutions each followed by ReLU, a sigmoid output; any input size.
- :class:`MicroGANCritic`: a plain CNN with LeakyReLU whose fully connected head is replaced
  by global average pooling, so it scores cells of any size (the paper's size-invariant
  discriminator).
- :class:`FixedSizeCritic`: the same convolutions with the fully connected head the paper
  uses for the MicroGAN-FS ablation (FC 1024 + ReLU + FC 1) on fixed 128×128 inputs.

Images are RGB in [0, 1], shape (N, 3, H, W). The paper scales inputs to [-1, 1]; the
networks do that themselves, so callers keep the MicroSR image contract.

Both critics end without the sigmoid the paper mentions: they are WGAN-GP critics (§2,
Gulrajani et al. 2017), whose score must be unbounded for the Wasserstein loss, and they use
no batch normalisation, which the gradient penalty (taken per sample) forbids.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .padding import pad_to_multiple
from .registry import register_architecture


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True),
    )


@register_architecture
class MicroGANGenerator(nn.Module):
    """Trimmed U-Net generator.

    ``levels`` resolutions (``levels - 1`` 2×2 max-poolings) with ``width · 2^k`` channels at
    level k, two 3×3 convolutions + ReLU per level on the way down and up, 2×2 transposed
    convolutions to go up, skip connections by concatenation, and a 1×1 convolution to RGB
    followed by a sigmoid. The defaults (4 levels, width 40) have 3.01 M parameters, close to
    the 3.06 M of the paper's Table 3 (the original U-Net has 5 levels, width 64, 31 M).

    Any (H, W): the input is padded by reflection to a multiple of ``size_multiple`` (2^(levels-1))
    and the output cropped back.

    With ``residual=True`` (our default, not in the paper) the network predicts a correction in
    logit space: ``sigmoid(logit(x) + f(x))``. The output still passes through the paper's
    sigmoid, but the last convolution starts at zero so an untrained generator returns its
    input (the bicubic or blurred image) instead of grey, which shortens training a lot on
    smooth micrographs (the same reason VDSR predicts a residual).

    With ``keep_chroma=True`` the output keeps the input's chroma (BT.601 Cb/Cr) and takes only
    its luma from the network: a generator trained on captures it did not see invented stain
    colour (a grey fibre painted nucleus-purple), and colour is what clinicians read stains by.
    VDSR and the geometry prior restore Y alone for the same reason.
    """

    #: Constructor arguments that change no tensor: weights trained without them load with them.
    tensor_free_kwargs = ("keep_chroma",)

    def __init__(self, *, levels: int = 4, width: int = 40, residual: bool = True, keep_chroma: bool = False):
        super().__init__()
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.levels, self.width, self.residual, self.keep_chroma = levels, width, residual, keep_chroma
        channels = [width * 2**k for k in range(levels)]
        self.down = nn.ModuleList([_double_conv(3, channels[0])])
        self.down.extend(_double_conv(channels[k - 1], channels[k]) for k in range(1, levels))
        self.up = nn.ModuleList(nn.ConvTranspose2d(channels[k], channels[k - 1], 2, stride=2) for k in range(levels - 1, 0, -1))
        self.merge = nn.ModuleList(_double_conv(2 * channels[k - 1], channels[k - 1]) for k in range(levels - 1, 0, -1))
        self.head = nn.Conv2d(channels[0], 3, 1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        if residual:
            nn.init.zeros_(self.head.weight)
        else:
            nn.init.xavier_uniform_(self.head.weight)

    pad_mode = "reflect"

    @property
    def size_multiple(self) -> int:
        """Input sides are padded to a multiple of this (see :mod:`microsr_core.models.archs.padding`)."""
        return 2 ** (self.levels - 1)

    @property
    def receptive_radius(self) -> int:
        """Half the receptive field in input pixels (an upper bound).

        Level k (resolution 1/2^k) has two 3×3 convolutions on the way down and two on the way
        up (one at the bottom level), each reaching 2^k input pixels; a pooling and its
        transposed convolution reach another 2^k.
        """
        bottom = self.levels - 1
        return sum(4 * 2**k + 2**k for k in range(bottom)) + 2 * 2**bottom

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net proper on a padded input: logits of the same size."""
        skips = []
        h = x * 2 - 1  # [0, 1] -> [-1, 1] as in the paper (§3.2)
        for k, block in enumerate(self.down):
            if k:
                h = F.max_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            h = merge(torch.cat([skips.pop(), up(h)], dim=1))
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        padded = pad_to_multiple(x, self.size_multiple, self.pad_mode)
        # Under autocast the body is bf16/fp16; the residual and the sigmoid stay float32.
        logits = self.body(padded)[..., :height, :width].float()
        if self.residual:
            eps = 1e-3
            logits = logits + torch.logit(x.clamp(eps, 1 - eps))
        out = torch.sigmoid(logits)
        return with_luma_of(out, x.float()) if self.keep_chroma else out


#: BT.601 luma weights of R, G, B (microsr_core.color's Y row, over its 219/255 range).
_LUMA = (65.481 / 219, 128.553 / 219, 24.966 / 219)


def with_luma_of(luma_source: torch.Tensor, chroma_source: torch.Tensor) -> torch.Tensor:
    """RGB with the BT.601 luma of ``luma_source`` and the chroma of ``chroma_source``: adding the
    same value to R, G and B moves Y by that value and leaves Cb and Cr unchanged."""
    weights = torch.tensor(_LUMA, dtype=chroma_source.dtype, device=chroma_source.device).view(1, 3, 1, 1)
    delta = ((luma_source - chroma_source) * weights).sum(dim=1, keepdim=True)
    return (chroma_source + delta).clamp(0, 1)


def _critic_trunk(width: int, downsamplings: int) -> tuple[nn.Sequential, int]:
    """3×3 convolutions with LeakyReLU(0.2): one at full size, then ``downsamplings`` of
    stride 2 doubling the channels (up to 8·width), then one more at the last size.

    Stride-2 3×3 convolutions with padding 1 give ceil(n/2) pixels, so even a 1-pixel input
    keeps a valid size (the paper's cells start at 30×14).
    """
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
    channels = width
    for _ in range(downsamplings):
        out = min(channels * 2, 8 * width)
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        channels = out
    layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers), channels


@register_architecture
class MicroGANCritic(nn.Module):
    """Size-invariant critic: convolutional trunk, a 1×1 convolution to one score per
    position, and global average pooling (Lin et al., Network in Network) to one score per
    image. Input (N, 3, H, W) in [0, 1], any H, W >= 1; output (N,).
    """

    def __init__(self, *, width: int = 64, downsamplings: int = 4):
        super().__init__()
        self.trunk, channels = _critic_trunk(width, downsamplings)
        self.score = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.trunk(x * 2 - 1)).mean(dim=(1, 2, 3))


@register_architecture
class FixedSizeCritic(nn.Module):
    """MicroGAN-FS critic (§3.3): the same trunk, then the fully connected head the paper
    replaces by global average pooling: flatten, FC ``hidden`` + ReLU, FC 1.

    Accepts only ``size``×``size`` inputs (128 in the paper); output (N,).
    """

    def __init__(self, *, width: int = 64, downsamplings: int = 4, size: int = 128, hidden: int = 1024):
        super().__init__()
        self.size = size
        self.trunk, channels = _critic_trunk(width, downsamplings)
        side = size
        for _ in range(downsamplings):
            side = math.ceil(side / 2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise ValueError(f"FixedSizeCritic takes {self.size}x{self.size} inputs, got {tuple(x.shape[-2:])}")
        return self.head(self.trunk(x * 2 - 1))[:, 0]
