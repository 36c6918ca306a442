"""VDSR-residual network (Ayas & Ekinci 2019, §3.2; after Kim et al. 2016)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_architecture


@register_architecture
class VDSR(nn.Module):
    """``depth`` 3×3 convolutions with ReLU between them; predicts a residual added to the input.

    Input and output: (N, 1, H, W) Y channel of the bicubic-upsampled LR image. Zero padding
    keeps the size, so the receptive field is ``2·depth + 1`` pixels (41 for depth 20).
    Weights use He initialisation and zero biases (§4.3), except the last layer, whose weights
    start at zero so that an untrained network returns its (bicubic) input instead of He-scaled
    noise: on smooth micrographs the residual is small and starting from noise cost hundreds of
    steps of recovery in our runs.
    """

    def __init__(self, *, depth: int = 20, channels: int = 64, image_channels: int = 1):
        super().__init__()
        # image_channels > 1: the trunk of PriorLRVDSR, which reads and writes s² pixel phases.
        layers: list[nn.Module] = [nn.Conv2d(image_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, image_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.depth = depth
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.body[-1].weight)

    @property
    def receptive_radius(self) -> int:
        return self.depth

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        return self.body(y)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # Under autocast the residual is bf16/fp16; the add stays float32 (see precision.py).
        return y + self.body(y).float()
