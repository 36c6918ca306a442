"""A family of capture pipelines: many optics and cameras, not one simulator.

A network is only as good as the degradations it saw. :class:`~.degrade.MicroscopeCapture` is one
physical model (a Gaussian fit of the PSF, a 3-channel sensor, JPEG); real captures differ in
kind: the PSF is an Airy pattern with rings or a defocus disc, a colour camera samples a Bayer
mosaic and demosaics it, the camera denoises and sharpens, capture software resamples, phones
compress hard. :class:`CameraPipeline` is one capture through such a chain, each step a model of
the physics or of common camera practice:

- **optics** (linear light, per channel at its wavelength): ``psf`` ``gaussian`` (the Airy-Gaussian
  fit, with astigmatism), ``airy`` (the diffraction pattern of a circular pupil, rings and all:
  I(v) = (2 J1(v)/v)², v = 2π NA r / λ), ``disc`` (geometric defocus: a uniform disc of
  ``defocus_um`` radius convolved with the in-focus Airy-Gaussian) or, held out, ``motion`` (the
  stage moving during the exposure: a line of ``motion_px`` LR px) and ``coma`` (an off-axis
  field point of an aberrated objective: ``coma_waves`` of Zernike coma in the pupil);
- **sampling**: pixel integration on the camera grid; a camera grid ``grid`` times finer than
  the saved image, resampled by the capture software (``resample``: bilinear, bicubic, held-out
  Lanczos; for validation, a box filter: the area average of cheap scalers and pixel binning);
- **sensor**: Poisson-Gaussian noise on the raw photosites (Foi et al. 2008), full wells down to a
  phone's few hundred electrons; a Bayer colour filter array (``cfa``) demosaiced by
  ``demosaic`` (bilinear; Malvar, He & Cutler 2004, the gradient-corrected filter of many
  cameras; held out, Menon et al. 2007's directional DDFAPD); for validation, ``column_noise``: the
  fixed-pattern offsets of a CMOS sensor's column amplifiers (one offset per column, the same
  down the whole frame: faint vertical stripes); held out, ``hot_pixels`` (defective photosites
  that read bright, one colour each behind a Bayer filter);
- **in-camera processing** in ``processing`` order: ``denoise`` (Gaussian or 3x3 median on the
  chroma, or an edge-preserving guided filter on luma and chroma; held out, a bilateral filter
  on all channels), ``sharpen`` (unsharp mask on luma);
  held out: a phone's S-shaped ``tone`` curve, ``vignetting``, lateral chromatic aberration
  (``lateral_ca``: red and blue magnified against green);
- **file**: 8 bit, then ``codec`` JPEG (4:2:0 or 4:4:4 chroma; for validation, the 4:2:2 of video
  cameras' MJPEG) or, held out, WebP and JPEG 2000 (a whole-slide scanner's tiles).

Demosaicing comes from ``colour-demosaicing`` (the colour-science project's reference
implementations of the published algorithms: Malvar's and Menon's are easy to get subtly wrong).

:class:`CaptureFamily` draws training pipelines (steps with probabilities, processing in random
order: the higher-order idea of Real-ESRGAN, grounded in optics and cameras). :data:`HELD_OUT`
are test pipelines with a step of a kind no training pipeline has (leave-one-family-out);
:data:`VALIDATION` are pipelines of yet other kinds, for choosing between trained weights on
captures the training never saw without looking at the test pipelines.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage, special
from scipy.signal import fftconvolve

from .capture_condition import detail_ratio, noise_rms
from .color import rgb_to_ycbcr, ycbcr_to_rgb
from .degrade import (
    AIRY_GAUSSIAN_SIGMA,
    CHROMA_SUBSAMPLING,
    CaptureRanges,
    Degradation,
    MicroscopeCapture,
    bicubic_downscale,
    blur_psf,
    file_round_trip,
    imresize,
    integrate_pixels,
    jpeg_compress,
    linear_to_srgb,
    psf_kernel,
    sensor_noise,
)
from ..errors import ParameterError

PSF_SHAPES = ("gaussian", "airy", "disc", "motion", "coma")
DEMOSAICS = ("bilinear", "malvar", "menon")
DENOISERS = ("gaussian", "median", "guided", "bilateral")
RESAMPLERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
              "box": Image.Resampling.BOX}
CODECS = ("none", "jpeg", "webp", "jpeg2000")
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
#: Supersampling of a PSF kernel per HR pixel (its value is the mean over the pixel's area).
KERNEL_SUPERSAMPLING = 3


def _pixel_grid(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel sample positions (y, x) of a (2 radius + 1)² kernel, KERNEL_SUPERSAMPLING² per pixel."""
    n = KERNEL_SUPERSAMPLING
    offsets = (np.arange(n) + 0.5) / n - 0.5
    axis = (np.arange(-radius, radius + 1)[:, None] + offsets[None, :]).ravel()
    return np.meshgrid(axis, axis, indexing="ij")


def _binned(samples: np.ndarray, radius: int) -> np.ndarray:
    n, side = KERNEL_SUPERSAMPLING, 2 * radius + 1
    kernel = samples.reshape(side, n, side, n).mean(axis=(1, 3))
    return kernel / kernel.sum()


def airy_kernel(first_zero_px: float) -> np.ndarray:
    """Normalised Airy pattern whose first dark ring lies at ``first_zero_px`` pixels
    (0.61 λ/NA in pixel units), out to its third dark ring."""
    radius = max(1, int(math.ceil(3.24 / 1.22 * first_zero_px)))
    y, x = _pixel_grid(radius)
    v = 3.8317 * np.hypot(y, x) / first_zero_px  # J1's first zero is at 3.8317
    safe = np.where(v == 0, 1.0, v)
    samples = np.where(v == 0, 1.0, (2 * special.j1(safe) / safe) ** 2)
    return _binned(samples, radius)


#: Pupil radius, in samples, of the FFT that computes an aberrated PSF (:func:`coma_kernel`) at its smallest.
PUPIL_SAMPLES = 12


def coma_kernel(first_zero_px: float, waves: float, angle_deg: float) -> np.ndarray:
    """Normalised PSF of a circular pupil with ``waves`` of third-order coma (Zernike Z(3,1):
    W = waves (3ρ³ − 2ρ) cos(θ − angle)), the comet-tailed spot of a field point off an objective's
    axis; without coma it is :func:`airy_kernel`'s pattern. The PSF is |FT(pupil)|², computed by
    FFT at KERNEL_SUPERSAMPLING samples a pixel and area-binned like the other kernels. The spot
    is moved so that its centroid within the kernel lies on the ideal image point: coma's shift
    is distortion, which a scanner calibrates out when it stitches tiles, and PSNR against the
    HR would otherwise measure registration rather than resolution."""
    n = KERNEL_SUPERSAMPLING
    size = 1 << int(math.ceil(math.log2(2 * PUPIL_SAMPLES * first_zero_px * n / 1.22)))
    pupil_radius = 1.22 * size / (2 * first_zero_px * n)  # puts the first dark ring at first_zero_px
    v, u = (np.mgrid[0:size, 0:size] - size // 2) / pupil_radius
    rho, theta = np.hypot(u, v), np.arctan2(v, u) - math.radians(angle_deg)
    field = np.where(rho <= 1.0, np.exp(2j * np.pi * waves * (3 * rho**3 - 2 * rho) * np.cos(theta)), 0.0)
    intensity = np.abs(np.fft.fft2(np.fft.ifftshift(field))) ** 2  # the spot at index (0, 0), wrapped
    radius = max(1, int(math.ceil((3.24 / 1.22 + 2 * waves) * first_zero_px)))
    reach = radius * n + n // 2
    if 2 * reach + 1 > size:
        raise ParameterError(f"coma kernel: {waves} waves over {first_zero_px:.1f} px reach past the computed PSF")
    offsets = np.fft.fftfreq(size, 1.0 / size)  # signed sample offsets of the wrapped grid
    inside = np.abs(offsets) <= reach
    window = intensity[np.ix_(inside, inside)]
    shift_y, shift_x = (window * offsets[inside][:, None]).sum() / window.sum(), (window * offsets[inside][None, :]).sum() / window.sum()
    frequencies = np.fft.fftfreq(size)
    centred = np.real(np.fft.ifft2(np.fft.fft2(intensity) * np.exp(2j * np.pi * (frequencies[:, None] * shift_y + frequencies[None, :] * shift_x))))
    spot = np.fft.fftshift(np.clip(centred, 0.0, None))
    centre = size // 2
    return _binned(spot[centre - reach : centre + reach + 1, centre - reach : centre + reach + 1], radius)


def disc_kernel(radius_px: float) -> np.ndarray:
    """Normalised uniform disc of ``radius_px`` pixels (geometric defocus), area-sampled."""
    radius = max(1, int(math.ceil(radius_px)))
    y, x = _pixel_grid(radius)
    return _binned((np.hypot(y, x) <= max(radius_px, 0.5)).astype(np.float64), radius)


def line_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """Normalised straight line of ``length_px`` pixels at ``angle_deg`` (motion during exposure)."""
    radius = max(1, int(math.ceil(length_px / 2)))
    y, x = _pixel_grid(radius)
    theta = math.radians(angle_deg)
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    return _binned(((np.abs(along) <= length_px / 2) & (np.abs(across) <= 0.5)).astype(np.float64), radius)


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (H, W) convolved with ``kernel`` by FFT, borders reflected."""
    radius_y, radius_x = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(image.astype(np.float32), ((radius_y, radius_y), (radius_x, radius_x)), mode="symmetric")
    return np.clip(fftconvolve(padded, kernel.astype(np.float32), mode="valid"), 0.0, None).astype(np.float32)


def bayer_mosaic(image: np.ndarray, pattern: str) -> np.ndarray:
    """The raw frame of a Bayer sensor: each photosite keeps the one colour its filter passes."""
    index = {"R": 0, "G": 1, "B": 2}
    raw = np.empty(image.shape[:2], dtype=np.float32)
    for k, colour in enumerate(pattern):
        dy, dx = divmod(k, 2)
        raw[dy::2, dx::2] = image[dy::2, dx::2, index[colour]]
    return raw


def demosaic(raw: np.ndarray, pattern: str, algorithm: str) -> np.ndarray:
    """Full RGB from a Bayer ``raw`` frame by ``algorithm`` (colour-demosaicing's implementations)."""
    with warnings.catch_warnings():  # colour-science warns at import that matplotlib is absent
        warnings.simplefilter("ignore")
        import colour_demosaicing as cd
    function = {
        "bilinear": cd.demosaicing_CFA_Bayer_bilinear,
        "malvar": cd.demosaicing_CFA_Bayer_Malvar2004,
        "menon": cd.demosaicing_CFA_Bayer_Menon2007,
    }[algorithm]
    return np.clip(function(raw.astype(np.float64), pattern), 0.0, 1.0).astype(np.float32)


def encode(image: np.ndarray, codec: str, quality: int, chroma: str = "420") -> np.ndarray:
    """Round-trip through an 8-bit file: ``jpeg`` (:func:`~.degrade.jpeg_compress`, ``chroma``
    subsampling), ``webp``, or ``jpeg2000`` with ``quality`` read as the file's target PSNR in dB
    (the irreversible 9/7 wavelet with the colour transform, as whole-slide formats store tiles:
    Aperio SVS and DICOM WSI allow it; wavelet ringing and blur instead of 8x8 blocks). A target
    PSNR rather than a ratio, since a ratio starves small crops, whose headers take the bytes."""
    if codec == "jpeg":
        return jpeg_compress(image, quality, chroma)
    if codec == "jpeg2000":
        return file_round_trip(image, "JPEG2000", quality_mode="dB", quality_layers=[quality], irreversible=True, mct=1)
    return file_round_trip(image, "WEBP", quality=quality)


def resample(image: np.ndarray, shape: tuple[int, int], method: str) -> np.ndarray:
    """``image`` resized to ``shape`` (rows, cols) per channel by PIL's ``method`` filter."""
    size = (shape[1], shape[0])
    planes = [np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F").resize(size, RESAMPLERS[method])) for c in range(image.shape[2])]
    return np.clip(np.stack(planes, axis=-1), 0.0, 1.0).astype(np.float32)


def unsharp_mask(image: np.ndarray, radius: float, amount: float) -> np.ndarray:
    """Luma sharpened by ``amount`` × (Y − Gaussian(Y, ``radius``)), as cameras sharpen (chroma left alone)."""
    ycbcr = rgb_to_ycbcr(image)
    y = ycbcr[..., 0]
    ycbcr[..., 0] = y + amount * (y - ndimage.gaussian_filter(y, radius, mode="reflect"))
    return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0)


def guided_filter(plane: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``plane`` filtered with itself as the guide (He, Sun & Tang 2010): in each (2 radius + 1)²
    window the output is a·plane + b with a = var / (var + eps), so flat areas (variance below
    ``eps``) are averaged and edges (variance above it) kept; box filters only, as cheap ISPs need."""
    size = 2 * radius + 1
    mean = ndimage.uniform_filter(plane, size, mode="reflect")
    variance = np.clip(ndimage.uniform_filter(plane * plane, size, mode="reflect") - mean * mean, 0.0, None)
    gain = variance / (variance + eps)
    return ndimage.uniform_filter(gain, size, mode="reflect") * plane + ndimage.uniform_filter((1 - gain) * mean, size, mode="reflect")


def denoise(image: np.ndarray, method: str, strength: float) -> np.ndarray:
    """A camera's noise reduction: ``gaussian`` (σ ``strength`` px) or ``median`` (3x3) on the
    chroma, where noise shows most and detail least; ``guided`` on luma and chroma, edge-preserving
    (noise of up to 0.03 ``strength`` averaged away over 3x3, or 5x5 from strength 1: a phone
    ISP's spatial noise reduction); ``bilateral`` (held out) on every channel, edge-preserving too."""
    if method == "bilateral":
        from skimage.restoration import denoise_bilateral

        return denoise_bilateral(image, sigma_color=0.05 * strength, sigma_spatial=strength, channel_axis=-1).astype(np.float32)
    ycbcr = rgb_to_ycbcr(image)
    if method == "guided":
        for c in range(3):
            ycbcr[..., c] = guided_filter(ycbcr[..., c], 1 if strength < 1 else 2, (0.03 * strength) ** 2)
        return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0)
    for c in (1, 2):
        plane = ycbcr[..., c]
        ycbcr[..., c] = ndimage.gaussian_filter(plane, strength, mode="reflect") if method == "gaussian" else ndimage.median_filter(plane, 3, mode="reflect")
    return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0)


def s_curve(image: np.ndarray, strength: float) -> np.ndarray:
    """A phone's contrast curve: a smoothstep blend of ``strength`` (0 = identity) on each channel."""
    smooth = image * image * (3 - 2 * image)
    return np.clip((1 - strength) * image + strength * smooth, 0.0, 1.0).astype(np.float32)


def lateral_aberration(image: np.ndarray, magnification: float) -> np.ndarray:
    """Red magnified by ``1 + magnification`` and blue by ``1 − magnification`` about the centre
    (lateral chromatic aberration: each wavelength images at its own scale), green unchanged."""
    out = image.copy()
    height, width = image.shape[:2]
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    for channel, factor in ((0, 1 + magnification), (2, 1 - magnification)):
        matrix = np.eye(2) / factor
        out[..., channel] = ndimage.affine_transform(image[..., channel], matrix, offset=centre - matrix @ centre, order=3, mode="reflect")
    return np.clip(out, 0.0, 1.0)


def vignette(image: np.ndarray, falloff: float) -> np.ndarray:
    """Light falling off towards the corners by ``falloff`` at the corner (cos⁴-like, in linear light)."""
    height, width = image.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((y - (height - 1) / 2) ** 2 + (x - (width - 1) / 2) ** 2) / (((height - 1) / 2) ** 2 + ((width - 1) / 2) ** 2 + 1e-9)
    return image * (1 - falloff * r2)[..., None]


@dataclass(frozen=True)
class CameraPipeline:
    """One capture of an HR field: the optics, sensor and camera of :class:`~.degrade.MicroscopeCapture`
    (``capture``: NA, pixel, noise, white balance; its ``jpeg_quality`` unused) with the steps
    listed in the module's docstring. :meth:`apply` runs them in the order light meets them."""

    capture: MicroscopeCapture = MicroscopeCapture(jpeg_quality=0)
    #: The pipeline's name where it is a fixed test pipeline (:data:`HELD_OUT`), else "".
    name: str = ""
    psf: str = "gaussian"
    defocus_um: float = 0.0
    motion_px: float = 0.0
    #: Waves of coma at the field point (``psf="coma"``).
    coma_waves: float = 0.0
    lateral_ca: float = 0.0
    grid: float = 1.0
    resample: str = "bicubic"
    cfa: str = ""
    demosaic: str = "bilinear"
    #: Standard deviation (electrons) of the per-column offset of the sensor's column amplifiers.
    column_noise: float = 0.0
    #: Share of photosites that are hot (a sensor defect: they read bright whatever the light).
    hot_pixels: float = 0.0
    vignetting: float = 0.0
    tone: float = 0.0
    processing: tuple[str, ...] = ()
    denoise: str = "gaussian"
    denoise_strength: float = 0.8
    sharpen_radius: float = 1.0
    sharpen_amount: float = 0.0
    codec: str = "none"
    #: JPEG and WebP quality; for ``jpeg2000``, the file's target PSNR in dB.
    quality: int = 90
    chroma: str = "420"

    def __post_init__(self):
        checks = (
            (self.psf in PSF_SHAPES, f"psf must be one of {', '.join(PSF_SHAPES)}"),
            (self.cfa in ("",) + BAYER_PATTERNS, f"cfa must be empty or one of {', '.join(BAYER_PATTERNS)}"),
            (self.demosaic in DEMOSAICS, f"demosaic must be one of {', '.join(DEMOSAICS)}"),
            (self.denoise in DENOISERS, f"denoise must be one of {', '.join(DENOISERS)}"),
            (self.resample in RESAMPLERS, f"resample must be one of {', '.join(RESAMPLERS)}"),
            (self.codec in CODECS, f"codec must be one of {', '.join(CODECS)}"),
            (self.chroma in CHROMA_SUBSAMPLING, f"chroma must be one of {', '.join(CHROMA_SUBSAMPLING)}"),
            (set(self.processing) <= {"denoise", "sharpen"}, "processing steps are denoise and sharpen"),
            (self.grid >= 1 and self.defocus_um >= 0 and self.motion_px >= 0 and self.column_noise >= 0 and self.coma_waves >= 0,
             "grid must be >= 1, defocus, motion, coma and column noise >= 0"),
            (0 <= self.hot_pixels < 0.01, "hot pixels must be a share in [0, 0.01)"),
            (1 <= self.quality <= 95, "quality must be in 1..95"),
        )
        for ok, message in checks:
            if not ok:
                raise ParameterError(f"camera pipeline: {message}")

    def kernel(self, channel: int, scale: int) -> np.ndarray | None:
        """The PSF of ``channel`` on the HR grid (None: the separable Gaussian path)."""
        optics = self.capture
        hr_pixel_um = optics.pixel_um / scale
        wavelength = optics.wavelengths_um[channel]
        if self.psf == "airy":
            return airy_kernel(0.61 * wavelength / optics.na / hr_pixel_um)
        if self.psf == "disc":
            return fftconvolve(disc_kernel(self.defocus_um / hr_pixel_um), _gaussian(AIRY_GAUSSIAN_SIGMA * wavelength / optics.na / hr_pixel_um))
        if self.psf == "motion":
            return fftconvolve(line_kernel(self.motion_px * scale, optics.angle_deg), _gaussian(optics.psf_sigmas()[channel] * scale))
        if self.psf == "coma":
            return coma_kernel(0.61 * wavelength / optics.na / hr_pixel_um, self.coma_waves, optics.angle_deg)
        return None

    def optics(self, hr: np.ndarray, scale: int) -> np.ndarray:
        """Linear light of ``hr`` (sRGB) through the objective, on the HR grid."""
        linear = self.capture.linear_light(hr)
        planes = []
        for c, sigma in enumerate(self.capture.psf_sigmas()):
            kernel = self.kernel(c, scale)
            planes.append(blur_psf(linear[..., c], sigma * scale, self.capture.anisotropy, self.capture.angle_deg) if kernel is None else convolve(linear[..., c], kernel))
        image = np.stack(planes, axis=-1)
        return lateral_aberration(image, self.lateral_ca) if self.lateral_ca else image

    def sensor(self, exposure: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy linear RGB from the camera: raw photosites through the CFA and demosaicing, or three full planes."""
        if self.vignetting:
            exposure = vignette(exposure, self.vignetting)
        optics = self.capture
        if not self.cfa:
            return self._defects(sensor_noise(exposure, optics.full_well, optics.read_noise, rng), rng)
        raw = self._defects(sensor_noise(bayer_mosaic(exposure, self.cfa), optics.full_well, optics.read_noise, rng), rng)
        return demosaic(raw, self.cfa, self.demosaic)

    def _defects(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``frame`` with the sensor's column offsets and hot photosites."""
        return self._hot_pixels(self._column_offsets(frame, rng), rng)

    def _hot_pixels(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``frame`` with a share ``hot_pixels`` of its sites (of one colour each where there are
        three planes) raised by 0.3 to 1 of the full well; no draw without them, as for column offsets."""
        if not self.hot_pixels:
            return frame
        flat = frame.reshape(-1).copy()
        sites = rng.choice(flat.size, size=max(1, int(round(self.hot_pixels * flat.size))), replace=False)
        flat[sites] += rng.uniform(0.3, 1.0, size=sites.size).astype(np.float32)
        return np.clip(flat.reshape(frame.shape), 0.0, 1.0)

    def _column_offsets(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``frame`` (raw or RGB, in full-well units) with one random offset per column; no draw
        without column noise, so the other pipelines' captures stay what they were."""
        if not self.column_noise:
            return frame
        offsets = rng.normal(0.0, self.column_noise / self.capture.full_well, size=frame.shape[1])
        return np.clip(frame + offsets.reshape((1, -1) + (1,) * (frame.ndim - 2)), 0.0, 1.0).astype(np.float32)

    def camera(self, image: np.ndarray) -> np.ndarray:
        """In-camera processing of the sRGB frame, in this pipeline's order."""
        if self.tone:
            image = s_curve(image, self.tone)
        for step in self.processing:
            image = denoise(image, self.denoise, self.denoise_strength) if step == "denoise" else unsharp_mask(image, self.sharpen_radius, self.sharpen_amount)
        return image

    def apply(self, hr: np.ndarray, scale: int, seed: int = 0, quantize: bool = True) -> np.ndarray:
        """The LR capture of ``hr`` (H, W, 3 sRGB, sides multiples of ``scale``), in [0, 1]."""
        rng = np.random.default_rng(seed)
        light = self.optics(hr, scale)
        out_shape = (hr.shape[0] // scale, hr.shape[1] // scale)
        if self.grid == 1:
            exposure = integrate_pixels(light, scale)
        else:  # a finer camera grid: area-weighted (antialiased) sampling of the light onto it
            exposure = np.clip(imresize(light, output_shape=tuple(max(2, round(n * self.grid)) for n in out_shape)), 0.0, None)
        frame = self.camera(linear_to_srgb(self.sensor(exposure, rng)))
        if quantize:
            frame = np.round(frame * 255) / 255
        if self.grid != 1:
            frame = resample(frame, out_shape, self.resample)
        if self.codec != "none":
            return encode(frame, self.codec, self.quality, self.chroma)
        return (np.round(frame * 255) / 255 if quantize else frame).astype(np.float32)

    def reference(self, hr: np.ndarray, seed: int = 0) -> np.ndarray:
        """``hr`` through this pipeline's pointwise photometric steps alone (white balance,
        vignetting, tone curve), at HR resolution: what an SR result should be compared with,
        since SR restores resolution and cannot know the camera's tone curve."""
        linear = self.capture.linear_light(hr)
        if self.vignetting:
            linear = vignette(linear, self.vignetting)
        image = linear_to_srgb(linear)
        return s_curve(image, self.tone) if self.tone else image

    def noiseless(self) -> "CameraPipeline":
        """The same optics, sampling and processing without sensor noise or lossy file."""
        return replace(self, capture=self.capture.noiseless(), codec="none", column_noise=0.0, hot_pixels=0.0)

    def conditioned(self, hr: np.ndarray, scale: int, seed: int = 0) -> tuple[np.ndarray, float, float]:
        """(LR capture, noise, detail) of ``hr``: :meth:`apply`, and what it did, measured against
        the same capture made :meth:`noiseless` and unrounded (:func:`~.capture_condition.noise_rms`)
        and against the bicubic downscale of the HR's :meth:`reference` (:func:`~.capture_condition.detail_ratio`)."""
        capture = self.apply(hr, scale, seed)
        noise_free = self.noiseless().apply(hr, scale, seed, quantize=False)
        return capture, noise_rms(capture, noise_free), detail_ratio(noise_free, bicubic_downscale(self.reference(hr), scale))

    def describe(self) -> str:
        optics = self.capture
        parts = [(f"{self.name} pipeline: " if self.name else "") + f"{self.psf} PSF (NA {optics.na:.2f}" + (f", defocus disc {self.defocus_um:.2f} um" if self.psf == "disc" else "")
                 + (f", motion {self.motion_px:.1f} px" if self.psf == "motion" else "") + (f", coma {self.coma_waves:.2f} waves" if self.psf == "coma" else "") + ")"]
        if self.lateral_ca:
            parts.append(f"lateral CA {self.lateral_ca:.3f}")
        if self.grid != 1:
            parts.append(f"camera grid x{self.grid:.2f} resampled {self.resample}")
        parts.append(f"full well {optics.full_well:.0f} e-, read {optics.read_noise:.1f} e-")
        if self.column_noise:
            parts.append(f"column offsets {self.column_noise:.1f} e-")
        if self.hot_pixels:
            parts.append(f"hot pixels {self.hot_pixels:.2%}")
        if self.cfa:
            parts.append(f"Bayer {self.cfa} + {self.demosaic}")
        if self.vignetting:
            parts.append(f"vignetting {self.vignetting:.2f}")
        if self.tone:
            parts.append(f"S-curve {self.tone:.2f}")
        for step in self.processing:
            parts.append(f"denoise {self.denoise} {self.denoise_strength:.2f}" if step == "denoise" else f"sharpen {self.sharpen_amount:.2f} r{self.sharpen_radius:.2f}")
        if self.codec == "jpeg2000":
            parts.append(f"jpeg2000 {self.quality} dB")
        elif self.codec != "none":
            parts.append(f"{self.codec} q{self.quality}" + (f" {self.chroma}" if self.codec == "jpeg" else ""))
        return ", ".join(parts)


def _gaussian(sigma: float) -> np.ndarray:
    return psf_kernel(max(sigma, 1e-3))


@dataclass(frozen=True)
class CaptureFamily:
    """The training family: one random :class:`CameraPipeline` per example.

    Optics, noise and white balance come from ``ranges`` (:class:`~.degrade.CaptureRanges`; full
    wells down to a phone's, read noise up to a cheap sensor's); each other step is taken with
    its probability, and denoising and sharpening run in a random order. No step of a kind that
    only :data:`HELD_OUT` pipelines use (motion blur, lateral CA, Lanczos, Menon, bilateral,
    vignetting, S-curve, WebP) or only :data:`VALIDATION` ones (column offsets, box resampling,
    4:2:2 chroma) is ever drawn here.
    """

    ranges: CaptureRanges = CaptureRanges(full_well=(150.0, 20000.0), read_noise=(1.0, 20.0))
    psf_odds: tuple[float, float, float] = (0.4, 0.35, 0.25)  # gaussian, airy, disc
    defocus_um: tuple[float, float] = (0.1, 0.6)
    grid_share: float = 0.3
    grid: tuple[float, float] = (1.1, 1.6)
    cfa_share: float = 0.6
    denoise_share: float = 0.4
    denoise_strength: tuple[float, float] = (0.5, 1.5)
    sharpen_share: float = 0.4
    sharpen_radius: tuple[float, float] = (0.5, 1.5)
    sharpen_amount: tuple[float, float] = (0.2, 1.2)
    jpeg_share: float = 0.75
    jpeg_quality: tuple[float, float] = (50, 95)
    chroma_420_share: float = 0.7

    @classmethod
    def from_text(cls, text: str | None) -> "CaptureFamily":
        """The family with its optics and noise ranges parsed as :meth:`~.degrade.CaptureRanges.from_text`
        (``"na=0.2:0.6,full_well=150:20000"``; unnamed ones keep the family's defaults)."""
        return cls(ranges=CaptureRanges.from_text(text, defaults=cls().ranges))

    def describe(self) -> str:
        return (
            f"capture family (microsr_core.imaging.capture_family.CaptureFamily): PSF gaussian/airy/disc {self.psf_odds}, "
            f"optics and noise {self.ranges.describe()}; camera grid {self.grid_share:.0%}, Bayer {self.cfa_share:.0%} "
            f"(bilinear or Malvar), denoise {self.denoise_share:.0%} (gaussian/median chroma, guided), sharpen {self.sharpen_share:.0%} in random order, "
            f"JPEG {self.jpeg_share:.0%} q{self.jpeg_quality[0]:g}..{self.jpeg_quality[1]:g}"
        )

    def sample(self, rng: np.random.Generator) -> CameraPipeline:
        def uniform(bounds):
            return float(rng.uniform(*bounds))

        steps = [step for step, share in (("denoise", self.denoise_share), ("sharpen", self.sharpen_share)) if rng.random() < share]
        rng.shuffle(steps)
        gridded = rng.random() < self.grid_share
        return CameraPipeline(
            capture=replace(self.ranges.sample(rng), jpeg_quality=0),
            psf=str(rng.choice(PSF_SHAPES[:3], p=np.asarray(self.psf_odds) / sum(self.psf_odds))),
            defocus_um=uniform(self.defocus_um),
            grid=uniform(self.grid) if gridded else 1.0,
            resample=str(rng.choice(["bilinear", "bicubic"])),
            cfa=str(rng.choice(BAYER_PATTERNS)) if rng.random() < self.cfa_share else "",
            demosaic=str(rng.choice(["bilinear", "malvar"])),
            processing=tuple(steps),
            denoise=str(rng.choice(["gaussian", "median", "guided"])),
            denoise_strength=uniform(self.denoise_strength),
            sharpen_radius=uniform(self.sharpen_radius),
            sharpen_amount=uniform(self.sharpen_amount),
            codec="jpeg" if rng.random() < self.jpeg_share else "none",
            quality=int(round(uniform(self.jpeg_quality))),
            chroma="420" if rng.random() < self.chroma_420_share else "444",
        )

    def apply(self, hr: np.ndarray, scale: int, seed: int = 0, quantize: bool = True) -> np.ndarray:
        """The LR capture of ``hr`` under the pipeline drawn from ``seed`` (reproducible per image)."""
        rng = np.random.default_rng(seed)
        return self.sample(rng).apply(hr, scale, int(rng.integers(2**31)), quantize)

    def reference(self, hr: np.ndarray, seed: int = 0) -> np.ndarray:
        """The photometric reference (:meth:`CameraPipeline.reference`) of the pipeline drawn from ``seed``."""
        return self.sample(np.random.default_rng(seed)).reference(hr)

    def noiseless(self) -> "CaptureFamily":
        return self  # a draw has no expected capture to compare with: each seed is another camera

    def _drawn(self, hr: np.ndarray, rng: np.random.Generator) -> tuple[CameraPipeline, np.ndarray, int]:
        """A random pipeline with its white balance taken out, the HR crop with it put in (the
        target: as in :meth:`~.degrade.CaptureRanges.pair`), and the seed of its noise."""
        pipeline = self.sample(rng)
        target = pipeline.capture.white_balance(hr)
        neutral = replace(pipeline, capture=replace(pipeline.capture, gains=(1.0, 1.0, 1.0)))
        return neutral, target, int(rng.integers(2**31))

    def pair(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(LR capture, target) of an HR crop under a random pipeline; the white balance goes into the target too."""
        pipeline, target, seed = self._drawn(hr, rng)
        return pipeline.apply(target, scale, seed), target

    def conditioned_pair(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(target, LR capture, noise, detail) of an HR crop: the same draws as :meth:`pair`, and
        what the capture did (:meth:`CameraPipeline.conditioned`)."""
        pipeline, target, seed = self._drawn(hr, rng)
        return target, *pipeline.conditioned(target, scale, seed)


#: Test pipelines, each with steps of a kind no :class:`CaptureFamily` draw has. Never trained on,
#: never tuned on: they exist to report how a model does on a camera it has not met.
HELD_OUT = {
    "scanner": CameraPipeline(
        name="scanner",  # a slide scanner: stage motion, lateral CA, finer sensor resampled by Lanczos, WebP tiles
        capture=MicroscopeCapture(na=0.4, full_well=6000.0, read_noise=4.0, jpeg_quality=0),
        psf="motion", motion_px=1.5, lateral_ca=0.004, grid=1.3, resample="lanczos", codec="webp", quality=80,
    ),
    "phone": CameraPipeline(
        name="phone",  # a phone on the eyepiece: vignetting, Menon demosaic, S-curve, bilateral denoise, strong sharpening
        capture=MicroscopeCapture(na=0.25, full_well=400.0, read_noise=6.0, jpeg_quality=0),
        psf="airy", cfa="RGGB", demosaic="menon", vignetting=0.2, tone=0.25,
        processing=("denoise", "sharpen"), denoise="bilateral", denoise_strength=1.0, sharpen_amount=1.0, sharpen_radius=1.2,
        codec="jpeg", quality=70,
    ),
    "wsi": CameraPipeline(
        name="wsi",  # a whole-slide scanner off its axis: the objective's coma, a sensor with hot pixels, JPEG 2000 tiles
        capture=MicroscopeCapture(na=0.45, full_well=8000.0, read_noise=3.0, angle_deg=30.0, jpeg_quality=0),
        psf="coma", coma_waves=0.3, hot_pixels=5e-4, cfa="BGGR", demosaic="malvar", codec="jpeg2000", quality=36,
    ),
}
#: Validation pipelines: steps of kinds neither the training family nor :data:`HELD_OUT` has, to
#: choose between trained weights (on the val split) by how they do on a capture never trained on,
#: while the held-out pipelines stay for reporting alone.
VALIDATION = {
    "usbcam": CameraPipeline(
        name="usbcam",  # a USB video camera on a C-mount: CMOS column offsets, a binned grid box-filtered down, MJPEG 4:2:2
        capture=MicroscopeCapture(na=0.3, full_well=2500.0, read_noise=5.0, jpeg_quality=0),
        cfa="GRBG", demosaic="bilinear", column_noise=8.0, grid=1.5, resample="box", codec="jpeg", quality=75, chroma="422",
    ),
}
#: Named pipelines ``evaluate --degradation`` offers beside the simple kinds: the training family
#: (one seeded draw per image), the held-out test pipelines and the validation pipelines.
PIPELINES = {"family": CaptureFamily(), **HELD_OUT, **VALIDATION}


def pipeline_degradation(name: str, scale: int) -> Degradation:
    """The :class:`~.degrade.Degradation` that runs pipeline ``name`` of :data:`PIPELINES`."""
    if name not in PIPELINES:
        raise ParameterError(f"unknown capture pipeline '{name}' (choose from {', '.join(PIPELINES)})")
    return Degradation("camera", scale, pipeline=PIPELINES[name])
