"""The network input of each learned method, built here for training and inference alike.

A network trained on one input and run on another loses quality without any error, so the
trainers (:mod:`microsr_core.train`) and the methods (:mod:`microsr_core.models.methods`) both call
these functions instead of writing the upscale themselves; :func:`degrade_batch` is MicroGAN's
on the training device, which a test holds equal to :func:`upscale_rgb`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..imaging.color import rgb_to_ycbcr
from ..imaging.degrade import GAUSSIAN_KERNEL_SIZE, GAUSSIAN_SIGMA, bicubic_upscale, gaussian_kernel, resize_weights


def upscale_ycbcr(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic-upsampled YCbCr of an RGB LR image: Y (channel 0) is the input of the Y-channel
    networks (VDSR, prior), Cb and Cr colour their output."""
    return bicubic_upscale(rgb_to_ycbcr(lr), scale)


def upscale_rgb(lr: np.ndarray, scale: int) -> np.ndarray:
    """MicroGAN's input: the RGB LR image bicubic-upsampled and clipped to [0, 1]; at ``scale`` 1
    (the paper's same-size Gaussian blur) the image itself."""
    return np.clip(bicubic_upscale(lr, scale), 0.0, 1.0) if scale > 1 else lr


@lru_cache(maxsize=512)
def _resize_matrix(in_length: int, out_length: int) -> np.ndarray:
    """Dense (out, in) matrix of MATLAB bicubic ``imresize`` along one axis (antialiased)."""
    indices, weights = resize_weights(in_length, out_length, out_length / in_length, True)
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.repeat(np.arange(out_length), indices.shape[1]), indices.ravel()), weights.ravel())
    return matrix


@lru_cache(maxsize=512)
def _blur_matrix(length: int) -> np.ndarray:
    """Dense (n, n) matrix of :func:`~microsr_core.imaging.degrade.gaussian_blur` along one axis."""
    g = gaussian_kernel(GAUSSIAN_KERNEL_SIZE, GAUSSIAN_SIGMA)[GAUSSIAN_KERNEL_SIZE // 2]
    g = (g / g.sum()).astype(np.float32).astype(np.float64)
    half = GAUSSIAN_KERNEL_SIZE // 2
    mirror = np.concatenate([np.arange(length), np.arange(length - 1, -1, -1)])  # scipy "reflect"
    matrix = np.zeros((length, length))
    for tap in range(GAUSSIAN_KERNEL_SIZE):
        np.add.at(matrix, (np.arange(length), mirror[np.mod(np.arange(length) + tap - half, 2 * length)]), g[tap])
    return matrix


def _apply(x: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    """``rows @ x @ cols.T`` over the last two axes of (N, C, H, W)."""
    r = torch.from_numpy(rows).to(x.device, x.dtype)
    c = torch.from_numpy(cols).to(x.device, x.dtype)
    return torch.matmul(torch.matmul(r, x), c.T)


def degrade_batch(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """MicroGAN's network input for an HR batch (N, 3, H, W) in [0, 1], H and W multiples of
    ``scale``, computed on its device as matrix products.

    ``scale`` 1: the 15×15 Gaussian blur; otherwise MATLAB bicubic downscale by ``scale``,
    clipped and rounded to 8 bit, then MATLAB bicubic upscale, clipped. Equals
    :class:`~microsr_core.imaging.degrade.Degradation` followed by :func:`upscale_rgb` (what the
    method does at inference).
    """
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"HR size {height}x{width} is not a multiple of {scale}")
    if scale == 1:
        lr = _apply(hr, _blur_matrix(height), _blur_matrix(width))
        return torch.round(lr * 255) / 255
    lr = _apply(hr, _resize_matrix(height, height // scale), _resize_matrix(width, width // scale))
    lr = torch.round(lr.clamp(0, 1) * 255) / 255
    return _apply(lr, _resize_matrix(height // scale, height), _resize_matrix(width // scale, width)).clamp(0, 1)
