"""Degradations that make a low-resolution (LR) image from a high-resolution (HR) one.

- :func:`imresize`: MATLAB-compatible bicubic resize (cubic kernel a = -0.5, kernel widened by
  the scale when shrinking, symmetric boundary). This is how the SR papers make their LR
  images and how MicroSR's bicubic baseline upsamples.
- :func:`gaussian_blur`: the 15×15 Gaussian blur of MicroGAN (Gautam et al. §3.1).
- :func:`add_noise`, :func:`jpeg_compress`: optional, reproducible from a seed.
- :func:`degrade`: the named pipelines used by ``evaluate``, the app and the trainers.

All functions take and return float32 arrays in [0, 1] of shape (H, W) or (H, W, C).
"""

from __future__ import annotations

import io as _io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from .errors import ParameterError

#: Kernel size of MicroGAN's Gaussian blur (paper 004, §3.1).
GAUSSIAN_KERNEL_SIZE = 15
#: σ that OpenCV's ``GaussianBlur`` derives for a 15×15 kernel when σ is left at 0:
#: 0.3·((15 − 1)/2 − 1) + 0.8. The paper names only the kernel size, so we take that default.
GAUSSIAN_SIGMA = 0.3 * ((GAUSSIAN_KERNEL_SIZE - 1) * 0.5 - 1) + 0.8

DEGRADATIONS = ("bicubic", "gaussian")


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (absx > 1) & (absx <= 2)
    )


@lru_cache(maxsize=256)
def resize_weights(in_length: int, out_length: int, scale: float, antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of MATLAB's ``imresize`` along one axis.

    Returns
    -------
    indices : ndarray of int, shape (out_length, P)
        0-based input positions, folded back into range by symmetric reflection.
    weights : ndarray of float64, shape (out_length, P)
        Rows sum to 1.
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale

        def kernel(x):
            return scale * _cubic(scale * x)

    else:
        kernel = _cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)
    indices, weights = indices[:, keep], weights[:, keep]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    return indices, weights


def _resize_axis(image: np.ndarray, axis: int, out_length: int, scale: float, antialias: bool) -> np.ndarray:
    indices, weights = resize_weights(image.shape[axis], out_length, scale, antialias)
    out = None
    shape = [1] * image.ndim
    shape[axis] = out_length
    for tap in range(indices.shape[1]):
        term = np.take(image, indices[:, tap], axis=axis) * weights[:, tap].astype(image.dtype).reshape(shape)
        out = term if out is None else out + term
    return out


def imresize(image: np.ndarray, scale: float | None = None, *, output_shape: tuple[int, int] | None = None, antialias: bool = True) -> np.ndarray:
    """Bicubic resize identical to MATLAB's ``imresize(image, scale, 'bicubic')``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Float values (computed in float64 for float64 input, float32 otherwise).
    scale : float
        Output/input size ratio (``1/4`` shrinks by 4). Sizes are ``ceil(H * scale)``.
    output_shape : (rows, cols), optional
        Explicit output size; the scale per axis is then output/input, as in MATLAB.
    antialias : bool
        Widen the kernel when shrinking (MATLAB's default).

    Returns
    -------
    ndarray of the input's float dtype. Values are not clipped (bicubic overshoots).
    """
    if image.dtype != np.float64:
        image = image.astype(np.float32, copy=False)
    height, width = image.shape[:2]
    if output_shape is None:
        if scale is None or scale <= 0:
            raise ParameterError(f"imresize needs a positive scale, got {scale}")
        output_shape = (int(math.ceil(height * scale)), int(math.ceil(width * scale)))
        scales = (scale, scale)
    else:
        scales = (output_shape[0] / height, output_shape[1] / width)
    # Resize along the axis that shrinks most first, as MATLAB does (fewer operations).
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    out = image
    for axis in order:
        out = _resize_axis(out, axis, output_shape[axis], scales[axis], antialias)
    return out


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of ``scale`` (done before downscaling)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """LR = MATLAB ``imresize(modcrop(HR, s), 1/s, 'bicubic')``, clipped to [0, 1]."""
    return np.clip(imresize(modcrop(hr, scale), 1.0 / scale), 0.0, 1.0)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-style bicubic upscaling by an integer factor (not clipped)."""
    return imresize(lr, float(scale))


def gaussian_kernel(size: int = GAUSSIAN_KERNEL_SIZE, sigma: float = GAUSSIAN_SIGMA) -> np.ndarray:
    """Normalised 2-D Gaussian kernel of ``size``×``size`` (float64)."""
    axis = np.arange(size) - (size - 1) / 2
    g = np.exp(-(axis**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def gaussian_blur(image: np.ndarray, size: int = GAUSSIAN_KERNEL_SIZE, sigma: float = GAUSSIAN_SIGMA) -> np.ndarray:
    """Same-size Gaussian blur with a ``size``×``size`` kernel and reflected borders."""
    g = gaussian_kernel(size, sigma)[size // 2]  # separable: the middle row, renormalised
    g = g / g.sum()
    out = image.astype(np.float32, copy=True)
    for axis in (0, 1):
        out = ndimage.convolve1d(out, g.astype(np.float32), axis=axis, mode="reflect")
    return out


def add_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma`` (in [0, 1] units), then clip."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    return np.clip(image + noise, 0.0, 1.0)


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through an 8-bit JPEG at ``quality`` (1..95), as cameras and BCCD do."""
    if not 1 <= quality <= 95:
        raise ParameterError(f"JPEG quality must be in 1..95, got {quality}")
    array = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    buffer = _io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).astype(np.float32) / 255.0


@dataclass(frozen=True)
class Degradation:
    """How an LR image is made from an HR one (recorded next to every metric).

    ``kind`` is ``"bicubic"`` (MATLAB bicubic downscale by ``scale``) or ``"gaussian"``
    (15×15 Gaussian blur, then bicubic downscale by ``scale``; ``scale=1`` is MicroGAN's
    same-size setting). ``noise_sigma`` and ``jpeg_quality`` are optional extra steps applied
    in that order, reproducible from ``seed``.
    """

    kind: str = "bicubic"
    scale: int = 2
    noise_sigma: float = 0.0
    jpeg_quality: int | None = None
    seed: int = 0
    #: Round the LR image to 8-bit levels, as MATLAB's uint8 pipeline and a saved LR file do.
    quantize: bool = True

    def __post_init__(self):
        if self.kind not in DEGRADATIONS:
            raise ParameterError(f"unknown degradation '{self.kind}' (choose from {', '.join(DEGRADATIONS)})")
        if int(self.scale) != self.scale or self.scale < 1:
            raise ParameterError(f"scale must be a positive integer, got {self.scale}")
        if self.noise_sigma < 0:
            raise ParameterError(f"noise sigma must be >= 0, got {self.noise_sigma}")

    def describe(self) -> str:
        text = (
            f"MATLAB bicubic downscale x{self.scale}"
            if self.kind == "bicubic"
            else f"Gaussian blur {GAUSSIAN_KERNEL_SIZE}x{GAUSSIAN_KERNEL_SIZE} (sigma {GAUSSIAN_SIGMA:.1f})"
            + (f", then bicubic downscale x{self.scale}" if self.scale > 1 else "")
        )
        if self.noise_sigma:
            text += f", Gaussian noise sigma {self.noise_sigma} (seed {self.seed})"
        if self.jpeg_quality:
            text += f", JPEG q{self.jpeg_quality}"
        return text

    def apply(self, hr: np.ndarray) -> np.ndarray:
        """Make the LR image; HR is cropped to a multiple of ``scale`` first."""
        image = modcrop(hr, self.scale)
        if self.kind == "gaussian":
            image = gaussian_blur(image)
        lr = bicubic_downscale(image, self.scale) if self.scale > 1 else image
        if self.noise_sigma:
            lr = add_noise(lr, self.noise_sigma, self.seed)
        if self.jpeg_quality:
            lr = jpeg_compress(lr, self.jpeg_quality)
        if self.quantize:
            lr = np.round(lr * 255.0) / 255.0
        return lr.astype(np.float32)


def degrade(hr: np.ndarray, scale: int, kind: str = "bicubic", **options) -> np.ndarray:
    """Shorthand for ``Degradation(kind, scale, **options).apply(hr)``."""
    return Degradation(kind=kind, scale=scale, **options).apply(hr)
