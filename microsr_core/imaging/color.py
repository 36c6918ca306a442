"""RGB <-> YCbCr per ITU-R BT.601 "studio swing", as MATLAB's ``rgb2ycbcr``.

The SR papers MicroSR reproduces super-resolve only Y and upsample Cb/Cr bicubically
(Ayas & Ekinci §4.1; Hua et al. §2.4), and they measure PSNR/SSIM on this Y. For float input
in [0, 1] the outputs are scaled like MATLAB's double output: Y in [16/255, 235/255] and Cb, Cr
in [16/255, 240/255]. The matrix equals ``skimage.color.rgb2ycbcr`` divided by 255.
"""

from __future__ import annotations

import numpy as np

# Rows: Y, Cb, Cr; columns: R, G, B (inputs in [0, 1], outputs in 8-bit units).
_RGB_TO_YCBCR = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Convert (..., 3) RGB in [0, 1] to YCbCr in MATLAB's [0, 1] scaling (float32)."""
    out = (rgb.astype(np.float64) @ _RGB_TO_YCBCR.T + _OFFSET) / 255.0
    return out.astype(np.float32)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`; the result is not clipped (float32)."""
    out = (ycbcr.astype(np.float64) * 255.0 - _OFFSET) @ _YCBCR_TO_RGB.T
    return out.astype(np.float32)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma Y of (..., 3) RGB in [0, 1], in [16/255, 235/255] (float32, shape (...))."""
    return ((rgb.astype(np.float64) @ _RGB_TO_YCBCR[0] + 16.0) / 255.0).astype(np.float32)
