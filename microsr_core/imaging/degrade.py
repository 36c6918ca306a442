"""Degradations that make a low-resolution (LR) image from a high-resolution (HR) one.

- :func:`imresize`: MATLAB-compatible bicubic resize (cubic kernel a = -0.5, kernel widened by
  the scale when shrinking, symmetric boundary). This is how the SR papers make their LR
  images and how MicroSR's bicubic baseline upsamples.
- :func:`gaussian_blur`: the 15×15 Gaussian blur of MicroGAN (Gautam et al. §3.1).
- :func:`add_noise`, :func:`jpeg_compress`: optional, reproducible from a seed.
- :class:`MicroscopeCapture`: a real capture through a lower objective and a camera (PSF,
  pixel integration, shot and read noise, 8-bit sRGB, JPEG); :class:`CaptureRanges` draws
  random ones for training.
- :class:`Degradation`: the named pipelines used by ``evaluate``, the app and the trainers.

All functions take and return float32 arrays in [0, 1] of shape (H, W) or (H, W, C).
"""

from __future__ import annotations

import io as _io
import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import ParameterError

#: Kernel size of MicroGAN's Gaussian blur (paper 004, §3.1).
GAUSSIAN_KERNEL_SIZE = 15
#: σ that OpenCV's ``GaussianBlur`` derives for a 15×15 kernel when σ is left at 0:
#: 0.3·((15 − 1)/2 − 1) + 0.8. The paper names only the kernel size, so we take that default.
GAUSSIAN_SIGMA = 0.3 * ((GAUSSIAN_KERNEL_SIZE - 1) * 0.5 - 1) + 0.8

DEGRADATIONS = ("bicubic", "gaussian", "microscope")


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


def file_round_trip(image: np.ndarray, file_format: str, **options) -> np.ndarray:
    """``image`` saved as an 8-bit ``file_format`` file (PIL's name, with its save ``options``) and read back."""
    array = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    buffer = _io.BytesIO()
    array.save(buffer, format=file_format, **options)
    return np.asarray(Image.open(buffer).convert(array.mode)).astype(np.float32) / 255.0


#: JPEG chroma subsampling by name: PIL's ``subsampling`` value (4:2:2 halves chroma across only, as video cameras do).
CHROMA_SUBSAMPLING = {"420": 2, "422": 1, "444": 0}


def jpeg_compress(image: np.ndarray, quality: int, chroma: str = "420") -> np.ndarray:
    """Round-trip through an 8-bit JPEG at ``quality`` (1..95), as cameras and BCCD do, with
    ``chroma`` subsampling 4:2:0 (PIL's default), 4:2:2 or 4:4:4."""
    if not 1 <= quality <= 95:
        raise ParameterError(f"JPEG quality must be in 1..95, got {quality}")
    if chroma not in CHROMA_SUBSAMPLING:
        raise ParameterError(f"JPEG chroma must be one of {', '.join(CHROMA_SUBSAMPLING)}, got '{chroma}'")
    return file_round_trip(image, "JPEG", quality=quality, subsampling=CHROMA_SUBSAMPLING[chroma])


# --- A real capture: lower objective, camera pixel, sensor noise, JPEG ---------------------------

#: Centre wavelengths (µm) of a colour camera's red, green and blue filters: the PSF of each
#: channel is as wide as its wavelength makes it (the blue channel is the sharpest).
CHANNEL_WAVELENGTHS_UM = (0.61, 0.54, 0.47)
#: Lateral sigma of the Gaussian that best fits a wide-field Airy disc, in units of λ/NA
#: (Zhang, Zerubia & Olivo-Marin 2007, Applied Optics 46(10), table 1: 0.21 λ/NA).
AIRY_GAUSSIAN_SIGMA = 0.21
#: A full well so deep that shot noise vanishes (the expected capture of :meth:`MicroscopeCapture.noiseless`).
NOISELESS_FULL_WELL = 1e12


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding: optics blur and photons add in linear light, not in sRGB."""
    return np.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(image: np.ndarray) -> np.ndarray:
    """The inverse of :func:`srgb_to_linear` (the camera's output tone curve)."""
    image = np.clip(image, 0.0, 1.0)
    return np.where(image <= 0.0031308, image * 12.92, 1.055 * image ** (1 / 2.4) - 0.055).astype(np.float32)


def psf_kernel(sigma: float, anisotropy: float = 1.0, angle_deg: float = 0.0) -> np.ndarray:
    """Normalised 2-D Gaussian PSF of geometric-mean width ``sigma`` (pixels), its major axis
    ``anisotropy`` times its minor one, turned ``angle_deg`` from the image's x axis;
    truncated at 4 sigma of the major axis."""
    major, minor = sigma * math.sqrt(anisotropy), sigma / math.sqrt(anisotropy)
    radius = max(1, int(math.ceil(4 * major)))
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    theta = math.radians(angle_deg)
    u = x * math.cos(theta) + y * math.sin(theta)
    v = -x * math.sin(theta) + y * math.cos(theta)
    kernel = np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
    return kernel / kernel.sum()


def blur_psf(image: np.ndarray, sigma: float, anisotropy: float = 1.0, angle_deg: float = 0.0) -> np.ndarray:
    """``image`` (H, W) convolved with :func:`psf_kernel`, borders reflected.

    An isotropic PSF goes through scipy's separable ``gaussian_filter`` (O(σ) per pixel); an
    elongated, turned one is not separable, so it is convolved by FFT (O(log N) per pixel)."""
    if sigma <= 0:
        return image.astype(np.float32, copy=True)
    if anisotropy == 1.0:
        return ndimage.gaussian_filter(image.astype(np.float32), sigma, mode="reflect", truncate=4.0)
    from scipy.signal import fftconvolve

    kernel = psf_kernel(sigma, anisotropy, angle_deg)
    radius = kernel.shape[0] // 2
    padded = np.pad(image.astype(np.float32), radius, mode="symmetric")
    return fftconvolve(padded, kernel.astype(np.float32), mode="valid").astype(np.float32)


def integrate_pixels(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor``×``factor`` blocks: a camera pixel ``factor`` times the HR pixel, with
    a 100 % fill factor, collects the light that falls on its whole area (the sum over the
    block, normalised so that a flat field keeps its level). H and W must be multiples of it."""
    if factor == 1:
        return image.astype(np.float32, copy=True)
    height, width = image.shape[:2]
    blocks = image.reshape(height // factor, factor, width // factor, factor, *image.shape[2:])
    return blocks.mean(axis=(1, 3)).astype(np.float32)


def sensor_noise(exposure: np.ndarray, full_well: float, read_noise: float, rng: np.random.Generator) -> np.ndarray:
    """Photo-electrons of a linear ``exposure`` in [0, 1] (1 = the full well): Poisson shot noise
    on ``exposure × full_well`` electrons plus Gaussian read noise of ``read_noise`` electrons,
    back in [0, 1] units and clipped at saturation. So the variance is exposure / full_well +
    (read_noise / full_well)²: the Poisson-Gaussian model of a CCD/CMOS sensor (Foi et al. 2008)."""
    electrons = rng.poisson(np.clip(exposure, 0.0, None).astype(np.float64) * full_well)
    electrons = electrons + rng.normal(0.0, read_noise, size=exposure.shape)
    return np.clip(electrons / full_well, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class MicroscopeCapture:
    """A capture of the HR field through a lower objective onto a colour camera.

    Optics: each channel is blurred by the lower objective's PSF, the Gaussian fit of its Airy
    disc (σ = 0.21 λ/NA), less the blur the HR image already carries from its own objective
    (``hr_na``; Gaussian widths add in quadrature), plus an optional ``defocus`` (σ in LR
    pixels, also in quadrature) and an ``anisotropy`` (astigmatism, a tilted slide) turned by
    ``angle_deg``. ``pixel_um`` is the camera pixel at the sample (sensor pitch / magnification);
    the HR pixel is ``pixel_um / scale``.
    Camera: each pixel integrates its area (:func:`integrate_pixels`), the sensor adds shot and
    read noise (:func:`sensor_noise`) at ``full_well`` electrons for white, the camera encodes
    sRGB in 8 bit and, unless ``jpeg_quality`` is 0, saves a JPEG with 4:2:0 chroma.
    ``gains`` is a white-balance / stain-colour drift per channel, in linear light.
    All in linear light (sRGB decoded first): photons add linearly, encoded values do not.
    """

    wavelengths_um: tuple[float, float, float] = CHANNEL_WAVELENGTHS_UM
    na: float = 0.3
    hr_na: float = 1.25
    pixel_um: float = 0.5
    defocus: float = 0.0
    anisotropy: float = 1.0
    angle_deg: float = 0.0
    full_well: float = 3000.0
    read_noise: float = 5.0
    jpeg_quality: int = 90
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        for name in ("na", "hr_na", "pixel_um", "full_well"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"capture {name} must be positive, got {getattr(self, name)}")
        if self.hr_na < self.na:
            raise ParameterError(f"capture hr_na ({self.hr_na}) must be at least the lower objective's na ({self.na})")
        if self.defocus < 0 or self.read_noise < 0:
            raise ParameterError("capture defocus and read_noise must be >= 0")
        if self.anisotropy < 1:
            raise ParameterError(f"capture anisotropy is the major/minor axis ratio, >= 1, got {self.anisotropy}")
        if self.jpeg_quality and not 1 <= self.jpeg_quality <= 95:
            raise ParameterError(f"capture jpeg_quality must be 0 (no JPEG) or in 1..95, got {self.jpeg_quality}")
        if len(self.gains) != 3 or min(self.gains) <= 0:
            raise ParameterError(f"capture gains must be three positive numbers, got {self.gains}")

    @classmethod
    def from_text(cls, text: str | None) -> "MicroscopeCapture":
        """Parse ``"na=0.28,full_well=1500,jpeg_quality=80"`` (any field; unnamed ones keep their default)."""
        return cls(**_parse_fields(cls, text, lambda name, value: _coerce(cls, name, value)))

    def psf_sigmas(self) -> tuple[float, ...]:
        """σ of the added blur per channel (R, G, B), in LR (camera) pixels."""
        sigmas = []
        for wavelength in self.wavelengths_um:
            low = AIRY_GAUSSIAN_SIGMA * wavelength / self.na / self.pixel_um
            own = AIRY_GAUSSIAN_SIGMA * wavelength / self.hr_na / self.pixel_um
            sigmas.append(math.sqrt(max(low**2 - own**2, 0.0) + self.defocus**2))
        return tuple(sigmas)

    def describe(self) -> str:
        sigmas = "/".join(f"{s:.2f}" for s in self.psf_sigmas())
        text = (
            f"microscope capture: NA {self.na:g} objective (PSF sigma {sigmas} LR px R/G/B"
            + (f", anisotropy {self.anisotropy:g} at {self.angle_deg:g} deg" if self.anisotropy != 1 else "")
            + f"), {self.pixel_um:g} um camera pixels, "
            + (f"full well {self.full_well:g} e-, read noise {self.read_noise:g} e-, 8-bit sRGB" if self.full_well < NOISELESS_FULL_WELL else "no sensor noise")
            + (f", JPEG q{self.jpeg_quality}" if self.jpeg_quality else "")
        )
        if self.gains != (1.0, 1.0, 1.0):
            text += ", white balance x" + "/".join(f"{g:.3f}" for g in self.gains)
        return text

    def linear_light(self, image: np.ndarray) -> np.ndarray:
        """``image`` (sRGB) decoded to linear light, with the capture's colour ``gains`` applied."""
        return srgb_to_linear(image) * np.asarray(self.gains, dtype=np.float32)

    def white_balance(self, image: np.ndarray) -> np.ndarray:
        """``image`` (sRGB) with the capture's colour ``gains`` applied in linear light."""
        if self.gains == (1.0, 1.0, 1.0):
            return image.astype(np.float32, copy=False)
        return linear_to_srgb(self.linear_light(image))

    def apply(self, hr: np.ndarray, scale: int, seed: int = 0, quantize: bool = True) -> np.ndarray:
        """The 8-bit LR capture of ``hr`` (H, W, 3 sRGB, sides multiples of ``scale``), in [0, 1]
        (without ``quantize``, and without JPEG, the sRGB values before the 8-bit step)."""
        rng = np.random.default_rng(seed)
        linear = self.linear_light(hr)
        channels = [
            blur_psf(linear[..., c], sigma * scale, self.anisotropy, self.angle_deg)
            for c, sigma in enumerate(self.psf_sigmas())
        ]
        exposure = integrate_pixels(np.stack(channels, axis=-1), scale)
        lr = linear_to_srgb(sensor_noise(exposure, self.full_well, self.read_noise, rng))
        if quantize:
            lr = np.round(lr * 255) / 255
        return jpeg_compress(lr, self.jpeg_quality) if self.jpeg_quality else lr.astype(np.float32)

    def noiseless(self) -> "MicroscopeCapture":
        """The same optics and pixels without the random steps (an expected capture): what an
        LR-consistency check compares with."""
        return replace(self, full_well=NOISELESS_FULL_WELL, read_noise=0.0, jpeg_quality=0)


@dataclass(frozen=True)
class CaptureRanges:
    """Ranges from which training draws one :class:`MicroscopeCapture` per example (seeded).

    Each field is ``(low, high)``: uniform, except ``full_well`` (log-uniform: photon budgets
    span decades, phone to cooled CCD); ``jpeg_share`` of the examples are saved as JPEG; each
    channel's gain is drawn on its own.
    """

    na: tuple[float, float] = (0.2, 0.6)
    pixel_um: tuple[float, float] = (0.5, 0.5)
    defocus: tuple[float, float] = (0.0, 0.6)
    anisotropy: tuple[float, float] = (1.0, 1.4)
    full_well: tuple[float, float] = (800.0, 20000.0)
    read_noise: tuple[float, float] = (1.0, 12.0)
    jpeg_quality: tuple[float, float] = (70, 95)
    jpeg_share: float = 0.8
    gain: tuple[float, float] = (0.92, 1.08)

    def __post_init__(self):
        for name in ("na", "pixel_um", "defocus", "anisotropy", "full_well", "read_noise", "jpeg_quality", "gain"):
            low, high = getattr(self, name)
            if low > high:
                raise ParameterError(f"capture range {name}: low {low} is above high {high}")
        MicroscopeCapture(na=self.na[1], pixel_um=self.pixel_um[0], anisotropy=self.anisotropy[0], full_well=self.full_well[0],
                          jpeg_quality=int(self.jpeg_quality[0]), gains=(self.gain[0],) * 3)  # the ends are valid captures

    @classmethod
    def from_text(cls, text: str | None, defaults: "CaptureRanges | None" = None) -> "CaptureRanges":
        """Parse ``"na=0.2:0.6,full_well=800:20000,jpeg_share=0.5"`` (unnamed fields keep ``defaults``'s
        values, the class defaults when it is None)."""

        def value(name: str, raw: str):
            if name == "jpeg_share":
                return float(raw)
            low, sep, high = raw.partition(":")
            return (float(low), float(high if sep else low))

        return replace(defaults or cls(), **_parse_fields(cls, text, value))

    def describe(self) -> str:
        return ", ".join(f"{name} {value[0]:g}..{value[1]:g}" if isinstance(value, tuple) else f"{name} {value:g}" for name, value in asdict(self).items())

    def sample(self, rng: np.random.Generator) -> MicroscopeCapture:
        def uniform(bounds):
            return float(rng.uniform(*bounds))

        return MicroscopeCapture(
            na=uniform(self.na),
            pixel_um=uniform(self.pixel_um),
            defocus=uniform(self.defocus),
            anisotropy=uniform(self.anisotropy),
            angle_deg=float(rng.uniform(0, 180)),
            full_well=float(math.exp(rng.uniform(math.log(self.full_well[0]), math.log(self.full_well[1])))),
            read_noise=uniform(self.read_noise),
            jpeg_quality=int(round(uniform(self.jpeg_quality))) if rng.random() < self.jpeg_share else 0,
            gains=tuple(uniform(self.gain) for _ in range(3)),
        )

    def pair(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(LR capture, target) of an HR crop (sides multiples of ``scale``) under a random capture.

        The colour drift goes into the target too: a network is to restore resolution, and
        cannot know a stain's true colour."""
        capture = self.sample(rng)
        target = capture.white_balance(hr)
        lr = replace(capture, gains=(1.0, 1.0, 1.0)).apply(target, scale, seed=int(rng.integers(2**31)))
        return lr, target


def _coerce(cls, name: str, raw: str):
    kind = type(getattr(cls(), name))
    if kind is tuple:
        return tuple(float(v) for v in raw.split(":"))
    return kind(float(raw)) if kind is int else kind(raw)


def _parse_fields(cls, text: str | None, parse) -> dict:
    """``key=value`` pairs separated by commas, keys among ``cls``'s fields; one clear error otherwise."""
    names = {f.name for f in fields(cls)}
    values = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise ParameterError(f"'{item}': expected KEY=VALUE with KEY one of {', '.join(sorted(names))}")
        try:
            values[name] = parse(name, raw.strip())
        except ValueError:
            raise ParameterError(f"'{item}': {raw!r} is not a number") from None
    return values


@dataclass(frozen=True)
class Degradation:
    """How an LR image is made from an HR one (recorded next to every metric).

    ``kind`` is ``"bicubic"`` (MATLAB bicubic downscale by ``scale``), ``"gaussian"``
    (15×15 Gaussian blur, then bicubic downscale by ``scale``; ``scale=1`` is MicroGAN's
    same-size setting) or ``"microscope"`` (a real capture: :class:`MicroscopeCapture`
    ``capture``, its noise drawn from ``seed``). ``noise_sigma`` and ``jpeg_quality`` are
    optional extra steps applied in that order, reproducible from ``seed``.
    """

    kind: str = "bicubic"
    scale: int = 2
    noise_sigma: float = 0.0
    jpeg_quality: int | None = None
    seed: int = 0
    #: Round the LR image to 8-bit levels, as MATLAB's uint8 pipeline and a saved LR file do.
    quantize: bool = True
    capture: MicroscopeCapture = MicroscopeCapture()
    #: With kind ``camera``: a capture pipeline of :mod:`microsr_core.imaging.capture_family` (anything
    #: with ``apply(hr, scale, seed, quantize)``, ``noiseless()`` and ``describe()``).
    pipeline: Any = None

    def __post_init__(self):
        if self.kind not in DEGRADATIONS and not (self.kind == "camera" and self.pipeline is not None):
            raise ParameterError(f"unknown degradation '{self.kind}' (choose from {', '.join(DEGRADATIONS)})")
        if int(self.scale) != self.scale or self.scale < 1:
            raise ParameterError(f"scale must be a positive integer, got {self.scale}")
        if self.noise_sigma < 0:
            raise ParameterError(f"noise sigma must be >= 0, got {self.noise_sigma}")

    def describe(self) -> str:
        if self.kind in ("microscope", "camera"):
            text = f"{(self.pipeline or self.capture).describe()}, x{self.scale} (seed {self.seed})"
        else:
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
        if self.kind in ("microscope", "camera"):
            lr = (self.pipeline or self.capture).apply(image, self.scale, self.seed, self.quantize)
        else:
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

    def reference(self, hr: np.ndarray) -> np.ndarray:
        """The HR image an SR result of :meth:`apply`'s LR is measured against: ``hr`` cropped to a
        multiple of ``scale`` (through a camera pipeline's photometric steps, which no SR undoes)."""
        image = modcrop(hr, self.scale)
        return self.pipeline.reference(image, self.seed) if self.pipeline is not None else image

    def noiseless(self) -> "Degradation":
        """This degradation without its random and rounding steps: the expected LR of an image,
        which an LR-consistency check compares with the LR input."""
        pipeline = self.pipeline.noiseless() if self.pipeline is not None else None
        return Degradation(kind=self.kind, scale=self.scale, quantize=False, capture=self.capture.noiseless(), pipeline=pipeline)
