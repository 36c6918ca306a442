"""The network input of each learned method, built here for training and inference alike.

A network trained on one input and run on another loses quality without any error, so the
trainers (:mod:`microsr_core.train`) and the methods (:mod:`microsr_core.methods`) both call
these functions instead of writing the upscale themselves.
"""

from __future__ import annotations

import numpy as np

from .color import rgb_to_ycbcr
from .degrade import bicubic_upscale


def upscale_ycbcr(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic-upsampled YCbCr of an RGB LR image: Y (channel 0) is the input of the Y-channel
    networks (VDSR, prior), Cb and Cr colour their output."""
    return bicubic_upscale(rgb_to_ycbcr(lr), scale)


def upscale_rgb(lr: np.ndarray, scale: int) -> np.ndarray:
    """MicroGAN's input: the RGB LR image bicubic-upsampled and clipped to [0, 1]; at ``scale`` 1
    (the paper's same-size Gaussian blur) the image itself."""
    return np.clip(bicubic_upscale(lr, scale), 0.0, 1.0) if scale > 1 else lr

