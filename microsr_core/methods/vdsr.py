"""VDSR-residual (Ayas & Ekinci 2019): 20-layer residual CNN on Y, one multi-scale model."""

from __future__ import annotations

import numpy as np

from ..registry import TileOutput, register
from .common import NetworkMethod, merge_y, to_tensor, upscale_ycbcr


@register
class VDSRMethod(NetworkMethod):
    name = "vdsr"
    title = "VDSR-residual"
    paper = "000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)"
    weights = "vdsr"

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        ycbcr = upscale_ycbcr(lr, scale)
        y = self.forward(to_tensor(ycbcr[:, :, 0], self.device))
        return TileOutput(merge_y(y, ycbcr))
