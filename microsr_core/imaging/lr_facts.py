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
- **The spectrum's shape, the edges, the noise at the 2-pixel scale** (the score reads them, the
  page does not show them): band ratios and levels of the radial spectrum, the power along the
  pixel axes over the diagonals and in the corners beyond Nyquist; the sharpest edges' steepest
  step over their contrast (:func:`edge_sharpness`: the sharpest edges bound the blur, and mild
  JPEG hardly moves a strong edge); the Laplacian's kurtosis; :func:`coarse_noise`. A lower
  objective's PSF takes detail out of the upper bands and softens every edge, a sensor's noise,
  a camera's sharpening and JPEG put power back near Nyquist, so no single fact separates the
  kinds, and their weighing is not a sum: an image's size and source change what each means.

The LR kind (a real capture or a bicubic downscale) is suggested from these facts alone: a
JPEG file below quality :data:`JPEG_FILE_REAL` was saved as cameras save; otherwise a small
network of the pixel facts (one hidden layer of 8; :data:`SCORE_FACTS`, :data:`SCORE_HIDDEN`,
:data:`SCORE_OUT`, fit on train-split images by ``python bench/lr_facts_calibration.py --fit
--images 20``, never on the val or test split) decides, with its confidence, or says "can't tell"
under :data:`MIN_CONFIDENCE`; the reason names the two facts that pulled most towards it (a
fact's pull: how far the score moves when that fact alone is set to the training fields' mean),
in words relative to the training fields that the facts shown cannot contradict. A JPEG file of
quality 90 or more decides nothing by itself: only its pixels speak, and the score was fit on
PNG and JPEG q90/q95 of the same captures, so they read alike (``docs/results.md`` measures how
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
#: The score of "real capture": a network of one hidden layer (tanh) over the standardised facts,
#: (fact, centre, scale) each; fit with class balance on train-split fields only by
#: ``python bench/lr_facts_calibration.py --fit --images 20``, which prints these constants.
SCORE_FACTS = (
    ("fine_detail_db", -25.568, 5.5008),
    ("top_band_db", -12.818, 4.396),
    ("log_noise", -0.049068, 0.80307),
    ("blockiness", 1.2131, 0.13246),
    ("resolution", 0.90948, 0.12742),
    ("level30_db", -15.983, 3.0554),
    ("level50_db", -24.192, 4.7405),
    ("level70_db", -30.764, 5.971),
    ("level90_db", -35.434, 6.1674),
    ("axes_db", 2.5551, 2.3903),
    ("corners_db", -5.3843, 1.6117),
    ("log_coarse_noise", 0.015571, 0.8178),
    ("log_kurtosis", 2.4177, 0.68051),
    ("sharpest_edges", 0.57444, 0.11232),
    ("sharp_edges", 0.3843, 0.061934),
    ("log_side", 4.7381, 0.49385),
)
#: The hidden layer: its biases (first row), then one row of weights per fact of :data:`SCORE_FACTS`.
SCORE_HIDDEN = np.array([
    (-1.677, -0.4179, -1.209, 0.6275, 0.7955, -0.7615, 0.47, -1.015),
    (-0.2131, -0.1917, -0.1084, -0.5395, 0.06468, -0.3773, 0.3207, 0.07825),
    (-0.02777, -0.8861, -0.4473, -0.1581, -0.5775, -0.4738, -0.6278, -0.0403),
    (0.02493, -0.3232, 0.1706, -0.1509, -0.1473, -0.2539, -0.2294, 0.121),
    (-0.04003, -0.03825, -0.4073, 0.4485, -0.5167, 0.2168, -0.5832, -0.193),
    (-0.9996, -0.03162, -0.07648, -0.2113, -0.08244, 0.9429, -0.08848, -0.08242),
    (0.0329, -0.124, 0.1416, 0.6156, 0.1941, 0.5932, 0.4163, 0.2475),
    (0.2421, -0.1436, 0.1651, -0.1994, 0.3419, -0.1967, 0.2985, 0.08795),
    (-0.316, -0.2871, -0.3377, -0.4497, 0.2333, 0.1136, 0.2318, 0.4361),
    (-0.1259, -0.7766, -0.1179, -0.2492, -0.2254, -0.2796, -0.3832, 0.1604),
    (0.04266, -0.02501, -0.4529, -0.2523, -0.1259, 0.005398, -0.599, 0.2354),
    (-0.2002, -0.5432, 0.4604, -0.09872, -0.3157, 0.362, -0.3446, 0.2733),
    (0.7862, -0.2298, 0.1679, -0.1337, -0.3601, 0.1495, -0.3312, -0.2563),
    (1.222, 0.5489, -0.5639, -0.8773, -0.02885, 1.069, 0.2407, -1.401),
    (-0.1269, 0.2524, 0.4441, 0.8931, -0.8795, 0.3316, -0.7507, -0.6774),
    (-0.2615, 0.5515, 1.424, -0.8068, 0.2309, -0.912, 0.06775, -0.6679),
    (0.4291, 0.4296, 0.5973, -0.5681, -0.4962, -0.8996, -0.1653, -0.2262),
])
#: The output: its bias, then one weight per hidden unit.
SCORE_OUT = np.array((3.603, -2.273, -1.845, -2.311, 2.51, -2.045, 2.539, -2.14, 2.085))
#: What each fact says when it is above (first) or below (second) the training fields' mean, in
#: words the facts shown beside it cannot contradict; ``None``: a fact the reason never names.
_SAYS = {
    "blockiness": ("more of an 8×8 JPEG block grid in the pixels than most fields", "less of a JPEG block grid than most fields"),
    "fine_detail_db": ("more fine detail than most fields", "less fine detail than most fields"),
    "top_band_db": ("more power near Nyquist (noise, sharpening or JPEG) than most fields", "less power near Nyquist than most fields"),
    "log_noise": ("more noise than most fields", "less noise than most fields"),
    "resolution": ("power reaching further towards Nyquist than in most fields", "power ending lower than in most fields"),
    **{f"level{p}_db": (f"more power at {p} % of Nyquist than most fields", f"less power at {p} % of Nyquist than most fields") for p in (30, 50, 70, 90)},
    "axes_db": ("finest detail aligned with the pixel axes more than in most fields", "finest detail aligned with the pixel axes less than in most fields"),
    "corners_db": ("more power in the spectrum's corners than most fields", "less power in the spectrum's corners than most fields"),
    "log_coarse_noise": ("more noise at the 2-pixel scale than most fields", "less noise at the 2-pixel scale than most fields"),
    "log_kurtosis": ("sparser fine detail (edges on a clean background) than most fields", "fine detail more like noise than in most fields"),
    "sharpest_edges": ("sharper sharpest edges than most fields", "softer sharpest edges than most fields"),
    "sharp_edges": ("sharper high-contrast edges than most fields", "softer high-contrast edges than most fields"),
    "log_side": None,
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


def _spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power of Hann-windowed Y (over the window's energy), each frequency's radius (fraction of
    Nyquist) and angle (0 or π/2 on an axis, π/4 on a diagonal)."""
    height, width = y.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2((y - y.mean()) * window)) ** 2 / float((window**2).sum())
    fy, fx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    return power, np.hypot(fy, fx) / 0.5, np.arctan2(np.abs(fy), np.abs(fx))


def _radial(power: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Mean power per radial bin (bin k spans k/_BINS..(k+1)/_BINS of Nyquist; the corners beyond Nyquist left out)."""
    which = (radius * _BINS).astype(int).ravel()
    inside = which < _BINS
    sums = np.bincount(which[inside], power.ravel()[inside], minlength=_BINS)
    return sums / np.maximum(np.bincount(which[inside], minlength=_BINS), 1)


def _radial_power(y: np.ndarray) -> np.ndarray:
    return _radial(*_spectrum(y)[:2])


def _resolution(radial: np.ndarray, sigma: float) -> float:
    floor = max(sigma, 0.5 / 255 / np.sqrt(3)) ** 2  # at least 8-bit rounding noise
    above = np.nonzero(radial[1:] - floor > floor)[0] + 1  # the DC bin left out
    return float((above.max() + 1) / _BINS) if above.size else 0.0


def effective_resolution(y: np.ndarray, sigma: float) -> float:
    """Highest frequency (fraction of Nyquist) where Y's power is above the white noise floor of ``sigma`` ([0, 1] units)."""
    return _resolution(_radial_power(y), sigma)


def _db(top: float, low: float) -> float:
    return 10 * math.log10(max(top, 1e-20) / max(low, 1e-20))


def _band(radial: np.ndarray, band: tuple[float, float]) -> float:
    return float(radial[int(band[0] * _BINS):int(band[1] * _BINS)].mean())


def band_ratio_db(y: np.ndarray, top: tuple[float, float], low: tuple[float, float]) -> float:
    """Mean power in the ``top`` band over the ``low`` band (fractions of Nyquist), in dB."""
    radial = _radial_power(y)
    return _db(_band(radial, top), _band(radial, low))


def spectrum_facts(y: np.ndarray) -> dict[str, float]:
    """The spectrum's shape in dB: band ratios, the level at 30/50/70/90 % of Nyquist over 6-19 %,
    the power along the axes over the diagonals at 70-100 % of Nyquist (a separable kernel, a
    camera's pixel grid or JPEG favour the axes) and the corners beyond Nyquist over 70-100 %."""
    power, radius, angle = _spectrum(y)
    radial = _radial(power, radius)
    facts = {"fine_detail_db": _db(_band(radial, (0.6, 0.9)), _band(radial, (0.1, 0.3))),
             "top_band_db": _db(_band(radial, (0.85, 1.0)), _band(radial, (0.4, 0.6)))}
    for percent in (30, 50, 70, 90):
        near = round(percent * _BINS / 100)
        facts[f"level{percent}_db"] = _db(radial[near - 1:near + 1].mean(), radial[2:6].mean())
    top = (radius >= 0.7) & (radius < 1.0)
    on_axis, on_diagonal = np.abs(angle - np.pi / 4) > 3 * np.pi / 16, np.abs(angle - np.pi / 4) < np.pi / 16
    facts["axes_db"] = _db(power[top & on_axis].mean(), power[top & on_diagonal].mean())
    facts["corners_db"] = _db(power[radius >= 1.0].mean(), power[top].mean())
    return facts


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


def edge_sharpness(y: np.ndarray, contrast: float, percentile: float) -> float:
    """The steepest one-pixel step of Y (0-255) over the contrast of its 5×5 neighbourhood, at the
    ``percentile`` of pixels whose neighbourhood spans over ``contrast`` grey levels: 1 for a
    perfect step, about 0.4 for one blurred by a Gaussian of σ 1 px. The sharpest edges of a
    field bound its blur, and mild JPEG hardly moves a strong edge."""
    windows = np.lib.stride_tricks.sliding_window_view(y, (5, 5))
    spread = windows.max(axis=(2, 3)) - windows.min(axis=(2, 3))
    centre = y[2:-2, 2:-2]
    step = np.maximum(np.abs(y[2:-2, 3:-1] - centre), np.abs(y[3:-1, 2:-2] - centre))
    edges = spread > contrast
    return float(np.percentile(step[edges] / spread[edges], percentile)) if edges.sum() >= 20 else 0.0


def _laplacian(y: np.ndarray) -> np.ndarray:
    return 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]


def coarse_noise(y: np.ndarray) -> float:
    """Noise sigma of Y (0-255) averaged over 2×2 pixels: Immerkær's Laplacian estimate over 8×8
    blocks, the quietest tenth (the frequencies a JPEG of quality 90 or more keeps)."""
    height, width = (side - side % 2 for side in y.shape)
    half = y[:height, :width].reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    k = half[:-2, :-2] + half[:-2, 2:] + half[2:, :-2] + half[2:, 2:] - 2 * (half[:-2, 1:-1] + half[2:, 1:-1] + half[1:-1, :-2] + half[1:-1, 2:]) + 4 * half[1:-1, 1:-1]
    rows, cols = k.shape[0] // 8, k.shape[1] // 8
    blocks = np.abs(k[: rows * 8, : cols * 8]).reshape(rows, 8, cols, 8).mean(axis=(1, 3))
    return float(np.percentile(blocks, 10) * math.sqrt(math.pi / 2) / 6)


def pixel_facts(pixels: np.ndarray) -> dict[str, float] | None:
    """The facts the score reads, from the pixels alone; ``None`` below :data:`MIN_SIDE`."""
    if min(pixels.shape[:2]) < MIN_SIDE:
        return None
    y = rgb_to_y(pixels).astype(np.float64)
    noise = noise_levels(pixels)
    laplacian = _laplacian(y * 255)
    kurtosis = float(np.mean(laplacian**4) / max(np.mean(laplacian**2) ** 2, 1e-20))
    return {"noise": noise, "log_noise": math.log(noise + 0.1), "resolution": effective_resolution(y, noise / 255),
            "blockiness": blockiness(y), **spectrum_facts(y), "log_coarse_noise": math.log(coarse_noise(y * 255) + 0.1),
            "log_kurtosis": math.log(max(kurtosis, 1e-6)), "sharpest_edges": edge_sharpness(y * 255, 15, 99),
            "sharp_edges": edge_sharpness(y * 255, 30, 90), "log_side": math.log(min(pixels.shape[:2]))}


def real_probability(facts: dict[str, float]) -> tuple[float, list[tuple[str, float]]]:
    """The score's probability that the image is a real capture, and each fact (in words) with its
    pull on the score (positive: towards a real capture), largest first. The score is a small
    network (:data:`SCORE_HIDDEN`, :data:`SCORE_OUT`) of the standardised facts; a fact's pull
    is how much the score moves when that fact alone is set to the training fields' mean."""
    z = np.array([(facts[name] - centre) / scale for name, centre, scale in SCORE_FACTS])

    def score(values: np.ndarray) -> float:
        hidden = np.tanh(SCORE_HIDDEN[0] + values @ SCORE_HIDDEN[1:])
        return float(SCORE_OUT[0] + hidden @ SCORE_OUT[1:])

    total = score(z)
    pulls = [(_SAYS[name][0 if z[i] > 0 else 1], total - score(np.where(np.arange(len(z)) == i, 0.0, z)))
             for i, (name, _, _) in enumerate(SCORE_FACTS) if _SAYS[name]]
    return 1 / (1 + math.exp(-total)), sorted(pulls, key=lambda item: -abs(item[1]))


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
