"""MicroGAN (Gautam et al.): a trimmed U-Net generator trained as a WGAN-GP on single cells.

The paper restores same-size Gaussian-blurred cells. To fit the app's scale factor like the
other methods, the LR image is first upscaled by MATLAB bicubic (``scale`` 2, 3, 4) and the
generator then restores it; ``scale`` 1 is the paper's setting (the input is the blurred image
itself). Deblurring and restoring a bicubic upscale pull one generator different ways (a
generator trained on x1-x4 fell below bicubic at x2), so a second generator, ``microgan_upscale``,
trained on x2-x4 only, serves those scales (its card's). It works on RGB, takes any size
(single cells or tiled whole fields) and ends in a sigmoid, so its output is already in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from ..network_input import upscale_rgb
from .base import TileOutput, register
from .common import NetworkMethod

PAPER = "004_67d765c92f46390f.txt (Gautam et al., MicroGAN)"


@register
class MicroGANMethod(NetworkMethod):
    name = "microgan"
    title = "MicroGAN"
    paper = PAPER
    scales = (1, 2, 3, 4)
    trainer = "microgan"

    # margin(): max-pooling makes the output depend slightly on where the 8-pixel grid falls,
    # so tiles agree only up to that; the tapered blend hides the difference.

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        x = torch.from_numpy(np.ascontiguousarray(upscale_rgb(lr, scale).transpose(2, 0, 1), dtype=np.float32))[None]
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        sr = self.forward(x, scale)[0].float().cpu().numpy().transpose(1, 2, 0)
        return TileOutput(np.ascontiguousarray(sr))


@register
class MicroGANFSMethod(MicroGANMethod):
    """The paper's MicroGAN-FS ablation (§3.3): same generator, trained with a fixed-size critic
    on cells resized to 128×128. At inference it takes any size like MicroGAN."""

    name = "microgan_fs"
    title = "MicroGAN-FS (fixed-size critic, ablation)"
