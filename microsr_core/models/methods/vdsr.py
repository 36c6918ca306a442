"""VDSR-residual (Ayas & Ekinci 2019): 20-layer residual CNN on Y.

The shipped single-scale models (``vdsr_x2``, ``vdsr_x3``, ``vdsr_x4``) serve their scales; the
multi-scale model ``vdsr`` (the paper's multi-scale ablation; its card says ``"role":
"fallback"``) serves any scale without one (:mod:`microsr_core.models.serving`). Weights trained with
``--capture-maps true`` read the capture's noise and detail besides the image: ``conditions``, the
two map values :func:`~microsr_core.models.inference.upscale` resolved once for the whole image.
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
    trainer = "vdsr"

    def process(self, lr: np.ndarray, scale: int, conditions: np.ndarray | None = None) -> TileOutput:
        ycbcr = upscale_ycbcr(lr, scale)
        y = self.forward(to_tensor(ycbcr[:, :, 0], self.device), scale, conditions)
        return TileOutput(merge_y(y, ycbcr))
