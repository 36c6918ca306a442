"""MicroGAN (Gautam et al.): a trimmed U-Net generator trained as a WGAN-GP on single cells.

The paper restores same-size Gaussian-blurred cells. To fit the app's scale factor like the
other methods, the LR image is first upscaled by MATLAB bicubic (``scale`` 2, 3, 4) and the
generator then restores it; ``scale`` 1 is the paper's setting (the input is the blurred image
itself). Deblurring and restoring a bicubic upscale pull one generator different ways (a
generator trained on x1-x4 fell below bicubic at x2), so a second generator, ``microgan_upscale``,
trained on x2-x4 only, serves those scales (its card's). It works on RGB, takes any size
(single cells or tiled whole fields) and ends in a sigmoid, so its output is already in [0, 1].

On real captures the output's luminance is anchored below :data:`ANCHOR_SIGMA_LR` LR pixels to
that of the bicubic upscale (:func:`anchor_luminance`): the LR samples fix an image's local
brightness, and the real-capture generators, left alone, brighten leukocytes by 1-3 grey levels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ...imaging.color import rgb_to_ycbcr, ycbcr_to_rgb
from ..network_input import upscale_rgb
from .base import TileOutput, register
from .common import NetworkMethod

PAPER = "004_67d765c92f46390f.txt (Gautam et al., MicroGAN)"

#: Real captures: the Gaussian (sigma, LR pixels) below which the output's luminance is the bicubic
#: upscale's. Chosen on the val split (usbcam and the family, docs/results.md): 16 gained at x2-x4,
#: 8 HR pixels and less cost the generator's deblurring.
ANCHOR_SIGMA_LR = 16
#: LR pixels of context the anchoring needs for tiles to agree (three sigmas).
ANCHOR_REACH = 3 * ANCHOR_SIGMA_LR


def anchor_luminance(sr: np.ndarray, upscaled: np.ndarray, scale: int, sigma_lr: float) -> np.ndarray:
    """``sr`` (RGB, sides multiples of ``scale``) with the low frequencies of its Y, below a Gaussian of
    ``sigma_lr`` LR pixels, replaced by those of ``upscaled``. The difference is smoothed on the LR
    grid (means of scale x scale blocks) and brought back bilinearly: it is smooth, and a Gaussian of
    64 HR pixels over a whole field would cost more than the generator."""
    ycbcr = rgb_to_ycbcr(sr)
    difference = rgb_to_ycbcr(upscaled)[..., 0] - ycbcr[..., 0]
    height, width = difference.shape
    blocks = difference.reshape(height // scale, scale, width // scale, scale).mean(axis=(1, 3))
    smooth = torch.from_numpy(ndimage.gaussian_filter(blocks, sigma_lr, mode="reflect").astype(np.float32))[None, None]
    ycbcr[..., 0] += F.interpolate(smooth, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()
    return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0).astype(np.float32)


@register
class MicroGANMethod(NetworkMethod):
    name = "microgan"
    title = "MicroGAN"
    paper = PAPER
    scales = (1, 2, 3, 4)
    trainer = "microgan"

    # margin(): max-pooling makes the output depend slightly on where the 8-pixel grid falls,
    # so tiles agree only up to that; the tapered blend hides the difference.

    def anchors(self, scale: int) -> bool:
        """Whether the output's luminance is anchored (:func:`anchor_luminance`): real captures, x2 and up."""
        return self.lr_kind == "real" and scale > 1

    def margin(self, scale: int) -> int:
        return max(super().margin(scale), ANCHOR_REACH) if self.anchors(scale) else super().margin(scale)

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        upscaled = upscale_rgb(lr, scale)
        x = torch.from_numpy(np.ascontiguousarray(upscaled.transpose(2, 0, 1), dtype=np.float32))[None]
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        sr = self.forward(x, scale)[0].float().cpu().numpy().transpose(1, 2, 0)
        if self.anchors(scale):
            sr = anchor_luminance(sr, upscaled, scale, ANCHOR_SIGMA_LR)
        return TileOutput(np.ascontiguousarray(sr))


@register
class MicroGANFSMethod(MicroGANMethod):
    """The paper's MicroGAN-FS ablation (§3.3): same generator, trained with a fixed-size critic
    on cells resized to 128×128. At inference it takes any size like MicroGAN."""

    name = "microgan_fs"
    title = "MicroGAN-FS (fixed-size critic, ablation)"
