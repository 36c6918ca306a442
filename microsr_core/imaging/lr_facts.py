"""What an LR image tells about how it was made, without a reference (most clinicians have none).

Each fact is an estimate with its error bar, and says "can't tell" where the image is too small
to measure it (:data:`MIN_SIDE`):

- **Noise**: the finest diagonal Haar band's RMS over 8×8 blocks, the quietest tenth of the
  blocks (a smear's background), in 8-bit grey levels; ± the spread of the three channels'
  estimates and the sampling error of the quiet blocks.
- **JPEG**: from the file itself (:attr:`~microsr_core.imaging.io.LoadedImage.jpeg_quality`), and
  from the pixels: the 8×8 block grid a JPEG leaves (the mean step across block borders over
  the mean step elsewhere; 1 = no grid), which survives saving the pixels again as PNG.
- **Effective resolution**: the highest spatial frequency whose power stands above the noise
  (SNR 1 on the radially averaged, Hann-windowed power spectrum of Y, the white noise floor
  taken from the noise estimate), as a fraction of Nyquist, ± one spectrum bin.
- **Fine detail**: the power of the band 0.6-0.9 of Nyquist against 0.1-0.3, and of 0.85-1.0
  against 0.4-0.6, in dB: a lower objective's PSF takes detail out of the upper bands, a
  sensor's noise, a camera's sharpening and JPEG put power back near Nyquist (so captures often
  read "up to Nyquist": no single fact separates the kinds, their weighted sum does better).

The LR kind (a real capture or a bicubic downscale) is suggested from these facts alone: a
JPEG file below quality :data:`JPEG_FILE_REAL` was saved as cameras save; otherwise a logistic
score of the pixel facts (:data:`SCORE_WEIGHTS`, fit on train-split images by
``python bench/lr_facts_calibration.py --fit``, never on the test split) decides, with its
confidence, or says "can't tell" under :data:`MIN_CONFIDENCE`; the reason names the two facts that
weighed most towards it. A JPEG file of quality 90 or more decides nothing by itself: only its
pixels speak, which differ little from a PNG's of the same field (``docs/results.md`` measures how
often the suggestion is right, and the same for PNG and JPEG q90/q95). Below :data:`MIN_SIDE`
nothing is suggested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .color import rgb_to_y
from .io import LoadedImage

#: Smallest side (px) at which the pixel facts are measured; below it each says "can't tell".
MIN_SIDE = 32
#: A JPEG file below this quality was saved as a camera saves; at or above it the file format
#: decides nothing (a PNG and a quality-90 JPEG of the same field must get the same suggestion).
JPEG_FILE_REAL = 90
#: Below this confidence the suggestion is "can't tell" and the LR kind is left as it is.
MIN_CONFIDENCE = 0.6
#: The logistic score of "real capture": (fact, centre, scale, weight) per fact; score =
#: bias + Σ weight × (value − centre) / scale. Fit with class-balanced logistic regression on
#: train-split fields (bench/lr_facts_calibration.py --fit); the val split reports how often it is right.
SCORE_BIAS = 1.554
SCORE_WEIGHTS = (
    ("fine_detail_db", -25.89, 5.178, -2.441),
    ("top_band_db", -13.02, 4.267, 1.232),
    ("log_noise", -0.05596, 0.8434, 0.865),
    ("blockiness", 1.22, 0.1259, 1.991),
    ("resolution", 0.9062, 0.1279, 1.541),
)
#: What each fact of the score says when it is above (first) or below (second) the score's centre.
_SAYS = {
    "blockiness": ("an 8×8 JPEG block grid in the pixels", "no JPEG block grid in the pixels"),
    "fine_detail_db": ("much fine detail", "little fine detail"),
    "top_band_db": ("power near Nyquist (noise, sharpening or JPEG)", "little power near Nyquist"),
    "log_noise": ("more noise than most fields", "little noise"),
    "resolution": ("power up to Nyquist (noise, sharpening or JPEG)", "power ending below Nyquist"),
}


def _quiet_block_rms(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Per channel, the 10th percentile of the finest diagonal band's 8×8-block RMS, and the
    number of band values the quiet tenth holds."""
    height, width = (side - side % 16 for side in pixels.shape[:2])
    p = pixels[:height, :width].astype(np.float64) * 255
    diagonal = (p[0::2, 0::2] - p[0::2, 1::2] - p[1::2, 0::2] + p[1::2, 1::2]) / 2
    rows, cols = diagonal.shape[0] // 8, diagonal.shape[1] // 8
    blocks = diagonal[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8, -1)
    rms = np.sqrt(np.mean(blocks**2, axis=(1, 3))).reshape(-1, pixels.shape[2])
    return np.percentile(rms, 10, axis=0) / _QUIET_BLOCKS_BIAS, max(1, rows * cols // 10) * 64


def noise_levels(pixels: np.ndarray) -> float:
    """Estimated white-noise sigma of ``pixels`` (H, W, 3, sides >= :data:`MIN_SIDE`) in 8-bit grey levels.

    The finest diagonal Haar band holds white noise's share and little of a smooth image, but
    fine detail leaks into it where the image has any; so the band's RMS is taken over 8×8
    blocks and the quietest tenth of the blocks speaks (a smear's background, flat but for the
    sensor). That percentile of block RMS sits a little below sigma for pure noise (64 values
    per block), which ``_QUIET_BLOCKS_BIAS`` corrects (measured on white noise)."""
    return float(np.mean(_quiet_block_rms(pixels)[0]))


def noise_error(pixels: np.ndarray) -> float:
    """The noise estimate's error bar: half the spread of the channels' estimates, or the
    sampling error of a sigma from the quiet blocks' values, whichever is larger."""
    per_channel, values = _quiet_block_rms(pixels)
    sigma = float(np.mean(per_channel))
    return max(float(np.ptp(per_channel)) / 2, sigma / math.sqrt(2 * values))


#: The 10th percentile of the RMS of 64 unit-variance Gaussian values (chi distribution).
_QUIET_BLOCKS_BIAS = float(np.sqrt(np.percentile(np.random.default_rng(0).chisquare(64, 200_000) / 64, 10)))
#: Radial bins of the spectrum between 0 and Nyquist.
_BINS = 32


def _radial_power(y: np.ndarray) -> np.ndarray:
    """Mean power of Hann-windowed Y per radial bin (bin k spans k/_BINS..(k+1)/_BINS of Nyquist), and the window's energy."""
    height, width = y.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2((y - y.mean()) * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    which = (np.hypot(fy, fx) / 0.5 * _BINS).astype(int).ravel()
    inside = which < _BINS  # the corners beyond Nyquist left out
    sums = np.bincount(which[inside], power.ravel()[inside], minlength=_BINS)
    counts = np.bincount(which[inside], minlength=_BINS)
    return sums / np.maximum(counts, 1) / float((window**2).sum())


def effective_resolution(y: np.ndarray, sigma: float) -> float:
    """Highest frequency (fraction of Nyquist) where Y's power is above the white noise floor of ``sigma`` ([0, 1] units)."""
    radial = _radial_power(y)
    floor = max(sigma, 0.5 / 255 / np.sqrt(3)) ** 2  # at least 8-bit rounding noise
    above = np.nonzero(radial[1:] - floor > floor)[0] + 1  # the DC bin left out
    return float((above.max() + 1) / _BINS) if above.size else 0.0


def band_ratio_db(y: np.ndarray, top: tuple[float, float], low: tuple[float, float]) -> float:
    """Mean power in the ``top`` band over the ``low`` band (fractions of Nyquist), in dB."""
    radial = _radial_power(y)
    mean = [float(radial[int(a * _BINS):int(b * _BINS)].mean()) for a, b in (top, low)]
    return 10 * math.log10(max(mean[0], 1e-20) / max(mean[1], 1e-20))


def blockiness(y: np.ndarray) -> float:
    """The mean absolute step of Y across the borders of an 8×8 grid over the mean step inside
    the blocks (1 = no grid; a JPEG's grid raises it), at the grid offset where it is largest
    (a cropped JPEG's grid need not start at pixel 0)."""
    steps = [np.abs(np.diff(y, axis=axis)) for axis in (1, 0)]
    best = 0.0
    for offset in range(8):
        border = [s.take(np.arange(offset, s.shape[axis], 8), axis=axis).mean() for axis, s in ((1, steps[0]), (0, steps[1]))]
        inside = [s.mean() for s in steps]
        best = max(best, float(sum(border) / max(sum(inside), 1e-12)))
    return best


def pixel_facts(pixels: np.ndarray) -> dict[str, float] | None:
    """The facts the score reads, from the pixels alone; ``None`` below :data:`MIN_SIDE`."""
    if min(pixels.shape[:2]) < MIN_SIDE:
        return None
    y = rgb_to_y(pixels)
    noise = noise_levels(pixels)
    return {"noise": noise, "log_noise": math.log(noise + 0.1), "resolution": effective_resolution(y, noise / 255),
            "blockiness": blockiness(y), "fine_detail_db": band_ratio_db(y, (0.6, 0.9), (0.1, 0.3)),
            "top_band_db": band_ratio_db(y, (0.85, 1.0), (0.4, 0.6))}


def real_probability(facts: dict[str, float]) -> tuple[float, list[tuple[str, float]]]:
    """The score's probability that the image is a real capture, and each fact (in words) with its
    pull on the score (positive: towards a real capture), largest first."""
    pulls = [(_SAYS[name][0 if facts[name] > centre else 1], weight * (facts[name] - centre) / scale)
             for name, centre, scale, weight in SCORE_WEIGHTS]
    score = SCORE_BIAS + sum(pull for _, pull in pulls)
    return 1 / (1 + math.exp(-score)), sorted(pulls, key=lambda item: -abs(item[1]))


@dataclass(frozen=True)
class LRFacts:
    """No-reference facts about an LR image, each with its error bar, and the LR kind they suggest
    (``suggested_kind`` ``None``: they cannot tell)."""

    noise_levels: float | None  # None: too small to tell
    noise_error: float | None
    jpeg_quality: int | None  # from the file
    blockiness: float | None
    resolution: float | None  # fraction of Nyquist
    suggested_kind: str | None  # "real", "bicubic" or None
    confidence: float | None  # of the suggestion, 0.5-1
    reason: str

    def lines(self) -> list[str]:
        """The facts in words, each with its error bar or "can't tell", and the suggestion last."""
        small = f"can't tell (the image is under {MIN_SIDE} px on a side)"
        lines = [
            f"noise: ~{self.noise_levels:.2f} ± {self.noise_error:.2f} grey levels (8 bit; in the flattest areas)" if self.noise_levels is not None else f"noise: {small}",
            f"file: JPEG, quality ~{self.jpeg_quality} (read from the file)" if self.jpeg_quality else "file: lossless",
            f"JPEG block grid in the pixels: {self.blockiness:.2f} (1 = none)" if self.blockiness is not None else f"JPEG block grid: {small}",
            f"effective resolution: {self.resolution:.0%} ± {1 / _BINS:.0%} of Nyquist (power above the noise)" if self.resolution is not None else f"effective resolution: {small}",
        ]
        if self.suggested_kind is None:
            return lines + [f"suggested LR kind: can't tell, because {self.reason}"]
        kind = "a real capture" if self.suggested_kind == "real" else "a bicubic downscale"
        return lines + [f"suggested: {kind} ({self.confidence:.0%} confident), because {self.reason}"]


def suggestion(jpeg_quality: int | None, facts: dict[str, float] | None) -> tuple[str | None, float | None, str]:
    """(kind, confidence, reason) from the file's JPEG quality and the pixel facts; the reason
    names only facts that point the way suggested."""
    if jpeg_quality and jpeg_quality < JPEG_FILE_REAL:
        return "real", 1.0, f"it was saved as a JPEG of quality {jpeg_quality} (below {JPEG_FILE_REAL}), as cameras save; test LR images are saved lossless"
    if facts is None:
        return None, None, f"the image is under {MIN_SIDE} px on a side, too small to measure"
    probability, pulls = real_probability(facts)
    kind = "real" if probability >= 0.5 else "bicubic"
    confidence = max(probability, 1 - probability)
    towards = [words for words, pull in pulls if (pull > 0) == (kind == "real")][:2]
    if confidence < MIN_CONFIDENCE or not towards:
        return None, confidence, f"the facts point both ways (a real capture {probability:.0%} likely)"
    return kind, confidence, " and ".join(towards)


def lr_facts(image: LoadedImage) -> LRFacts:
    """The facts of a loaded LR image (its file tells the JPEG quality, its pixels the rest)."""
    facts = pixel_facts(image.pixels)
    kind, confidence, reason = suggestion(image.jpeg_quality, facts)
    if facts is None:
        return LRFacts(None, None, image.jpeg_quality, None, None, kind, confidence, reason)
    return LRFacts(facts["noise"], noise_error(image.pixels), image.jpeg_quality, facts["blockiness"], facts["resolution"],
                   kind, confidence, reason)
