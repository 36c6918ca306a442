"""VDSR-residual (Ayas & Ekinci 2019): 20-layer residual CNN on Y.

The shipped single-scale models (``vdsr_x2``, ``vdsr_x3``, ``vdsr_x4``) serve their scales; the
multi-scale model ``vdsr`` (the paper's multi-scale ablation) serves any scale without one.
"""

from __future__ import annotations

import numpy as np

from ..network_input import upscale_ycbcr
from .base import TileOutput, register
from .common import NetworkMethod, merge_y, to_tensor


@register
class VDSRMethod(NetworkMethod):
    name = "vdsr"
    title = "VDSR-residual"
    paper = "000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)"
    weights = "vdsr"
    trainer = "vdsr"
    scale_weights = {2: "vdsr_x2", 3: "vdsr_x3", 4: "vdsr_x4"}
    # vdsr_x2's bf16 output lost 0.021-0.034 dB on BCCD crops (at 53 dB, its residual is below
    # a grey level, where bf16's rounding shows): auto runs x2 in fp32.
    bf16_misses_guard = (2,)

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        ycbcr = upscale_ycbcr(lr, scale)
        y = self.forward(to_tensor(ycbcr[:, :, 0], self.device), scale)
        return TileOutput(merge_y(y, ycbcr))
