"""What an LR image tells about how it was made, without a reference (most clinicians have none).

- **Noise**: Donoho's robust wavelet estimator (the median absolute finest-scale diagonal
  wavelet coefficient / 0.6745), in 8-bit grey levels.
- **JPEG**: from the file itself (:attr:`~microsr_core.imaging.io.LoadedImage.jpeg_quality`).
- **Effective resolution**: the highest spatial frequency whose power stands above the noise
  (SNR 1 on the radially averaged, Hann-windowed power spectrum of Y, the white noise floor
  taken from the noise estimate), as a fraction of the Nyquist frequency. A bicubic downscale
  of a sharp field keeps detail up to about Nyquist; a lower objective's PSF and a camera's
  noise end it well below.

These suggest the LR kind (a real capture or a bicubic downscale), with the reason: a JPEG file
or a resolution below :data:`RESOLUTION_REAL` say "real capture". The noise is shown, not used:
on close-ups without background (wbc_seg dataset1) a bicubic LR's fine detail reads as 5-9
levels of "noise", more than a capture's, whose JPEG smooths the finest band
(``python bench/lr_facts_calibration.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .color import rgb_to_y
from .io import LoadedImage

#: Below this effective resolution (fraction of Nyquist) the image is blurrier than a bicubic
#: downscale: on train-split images bicubic LR reached 0.59-1.0 (0.66 or more but one), captures
#: at 3000 e- 0.31-0.75 (bench/lr_facts_calibration.py).
RESOLUTION_REAL = 0.6
#: Smallest side for a spectrum worth reading.
MIN_SIDE = 32


def noise_levels(pixels: np.ndarray) -> float:
    """Estimated white-noise sigma of ``pixels`` (H, W, 3) in 8-bit grey levels (mean of the channels).

    The finest diagonal Haar band holds white noise's share and little of a smooth image, but
    fine detail leaks into it where the image has any; so the band's RMS is taken over 8×8
    blocks and the quietest tenth of the blocks speaks (a smear's background, flat but for the
    sensor). That percentile of block RMS sits a little below sigma for pure noise (64 values
    per block), which ``_QUIET_BLOCKS_BIAS`` corrects (measured on white noise)."""
    height, width = (side - side % 16 for side in pixels.shape[:2])
    if min(height, width) < 16:
        height, width = (side - side % 2 for side in pixels.shape[:2])
    p = pixels[:height, :width].astype(np.float64) * 255
    diagonal = (p[0::2, 0::2] - p[0::2, 1::2] - p[1::2, 0::2] + p[1::2, 1::2]) / 2
    rows, cols = diagonal.shape[0] // 8, diagonal.shape[1] // 8
    if rows * cols < 10:
        return float(np.sqrt(np.mean(diagonal**2)))
    blocks = diagonal[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8, -1)
    rms = np.sqrt(np.mean(blocks**2, axis=(1, 3)))  # (rows, cols, channels)
    return float(np.mean(np.percentile(rms.reshape(-1, rms.shape[-1]), 10, axis=0))) / _QUIET_BLOCKS_BIAS


#: The 10th percentile of the RMS of 64 unit-variance Gaussian values (chi distribution).
_QUIET_BLOCKS_BIAS = float(np.sqrt(np.percentile(np.random.default_rng(0).chisquare(64, 200_000) / 64, 10)))


def effective_resolution(y: np.ndarray, sigma: float) -> float:
    """Highest frequency (fraction of Nyquist) where Y's power is above the white noise floor of ``sigma`` ([0, 1] units)."""
    height, width = y.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2((y - y.mean()) * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    radius = np.hypot(fy, fx) / 0.5  # 1 = Nyquist along an axis
    floor = max(sigma, 0.5 / 255 / np.sqrt(3)) ** 2 * float((window**2).sum())  # at least 8-bit rounding noise
    edges = np.linspace(0, 1, 33)
    which = np.digitize(radius.ravel(), edges) - 1
    inside = (which >= 1) & (which < 32)  # skip the DC bin and the corners beyond Nyquist
    sums = np.bincount(which[inside], power.ravel()[inside], minlength=32)
    counts = np.bincount(which[inside], minlength=32)
    radial = sums[1:] / np.maximum(counts[1:], 1)
    above = np.nonzero(radial - floor > floor)[0]
    return float(edges[above.max() + 2]) if above.size else 0.0


@dataclass(frozen=True)
class LRFacts:
    """No-reference facts about an LR image and the LR kind they suggest."""

    noise_levels: float
    jpeg_quality: int | None
    resolution: float | None  # fraction of Nyquist; None for images too small to tell
    suggested_kind: str  # "real" or "bicubic"
    reason: str

    def lines(self) -> list[str]:
        return [
            f"noise: ~{self.noise_levels:.1f} grey levels (8 bit; in the image's flattest areas)",
            "file: JPEG, quality ~" + str(self.jpeg_quality) if self.jpeg_quality else "file: lossless (no JPEG artefacts)",
            f"effective resolution: {self.resolution:.0%} of Nyquist (power above the noise)" if self.resolution is not None else "effective resolution: image too small to tell",
            f"suggested: {'a real capture' if self.suggested_kind == 'real' else 'a bicubic downscale'}, because {self.reason}",
        ]


def lr_facts(image: LoadedImage) -> LRFacts:
    """The facts of a loaded LR image (its file tells JPEG, its pixels the rest)."""
    pixels = image.pixels
    noise = noise_levels(pixels)
    small = min(pixels.shape[:2]) < MIN_SIDE
    resolution = None if small else effective_resolution(rgb_to_y(pixels), noise / 255)
    if image.jpeg_quality:
        kind, reason = "real", f"it was saved as JPEG (quality ~{image.jpeg_quality}), as cameras save; test LR images are saved lossless"
    elif resolution is not None and resolution < RESOLUTION_REAL:
        kind, reason = "real", f"its detail ends at {resolution:.0%} of Nyquist, blurrier than a bicubic downscale"
    else:
        kind, reason = "bicubic", "it is lossless, nearly noise-free and sharp up to near Nyquist, like a bicubic downscale"
    return LRFacts(noise, image.jpeg_quality, resolution, kind, reason)
