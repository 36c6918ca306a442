"""Bicubic interpolation: the baseline every SR paper reports (MATLAB ``imresize``)."""

from __future__ import annotations

import numpy as np

from ...imaging.degrade import bicubic_upscale
from .base import SRMethod, TileOutput, register


@register
class Bicubic(SRMethod):
    name = "bicubic"
    title = "Bicubic"
    paper = "MATLAB imresize (Keys cubic, a = -0.5)"
    scales = (1, 2, 3, 4, 8)  # x1 is the identity, for same-size (Gaussian blur) evaluation

    def margin(self, scale: int) -> int:
        return 3  # the cubic kernel reaches 2 LR pixels; one more for safety at odd offsets

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        return TileOutput(np.clip(bicubic_upscale(lr, scale), 0.0, 1.0))
