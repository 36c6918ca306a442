"""VDSR-residual (Ayas & Ekinci 2019): 20-layer residual CNN on Y, one multi-scale model."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..registry import SRMethod, TileOutput, register
from .common import load_network, merge_y, to_tensor, upscale_ycbcr


@register
class VDSRMethod(SRMethod):
    name = "vdsr"
    title = "VDSR-residual"
    paper = "000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)"
    weights = "vdsr"

    def __init__(self, device: torch.device, model: str | None = None):
        super().__init__(device, model)
        self.net, self.card = load_network(self.weights, device, model)
        self.scales = tuple(self.card["scales"])

    def margin(self, scale: int) -> int:
        # Receptive radius in output pixels, brought back to LR pixels, plus the bicubic support.
        return math.ceil(self.net.receptive_radius / scale) + 3

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        ycbcr = upscale_ycbcr(lr, scale)
        y = self.net(to_tensor(ycbcr[:, :, 0], self.device))
        return TileOutput(merge_y(y, ycbcr))
