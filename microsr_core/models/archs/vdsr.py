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

    ``conditions`` > 0 reads that many condition maps besides the image, as SRMD (Zhang et al.
    2018) and FFDNet (Zhang et al. 2018) read noise-level and blur maps: a 1×1 convolution of the
    maps to ``channels`` features (``condition``) is added to the first layer's output before
    its ReLU. Its weights and bias start at zero, so a network whose other tensors come from a
    plain VDSR returns exactly what that one returned until training moves them. For the capture
    maps (2: noise and detail, :mod:`microsr_core.imaging.capture_maps`) they are constant over
    the image; a 1×1 convolution leaves the receptive radius as it was. ``conditions=0`` is the
    plain network (same tensors, same outputs).
    """

    #: Constructor arguments that add zero-started tensors: weights without them start such a network (``train --init``).
    zero_started_kwargs = ("conditions",)

    def __init__(self, *, depth: int = 20, channels: int = 64, image_channels: int = 1, conditions: int = 0):
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
        self.conditions = conditions
        self.condition = None
        if conditions:  # made after the trunk's initialisation, so a seed gives the trunk it gives a plain VDSR
            self.condition = nn.Conv2d(conditions, channels, 1)
            nn.init.zeros_(self.condition.weight)
            nn.init.zeros_(self.condition.bias)

    @property
    def receptive_radius(self) -> int:
        return self.depth

    def residual(self, y: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted residual of ``y``; ``conditions`` (maps (N, C, H, W) or one value per map,
        (N, C), broadcast over the image) exactly when the network reads ``C`` = :attr:`conditions` maps."""
        if (conditions is not None) != bool(self.conditions):
            raise ValueError(f"this VDSR reads {self.conditions} condition maps; got {'none' if conditions is None else tuple(conditions.shape)}")
        if conditions is None:
            return self.body(y)
        maps = conditions[:, :, None, None] if conditions.ndim == 2 else conditions
        features = self.body[0](y)
        features += self.condition(maps.to(y.dtype))  # in place: the features keep their memory format (channels-last)
        return self.body[2:](self.body[1](features))

    def forward(self, y: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        # Under autocast the residual is bf16/fp16; the add stays float32 (see precision.py).
        return y + self.residual(y, conditions).float()
