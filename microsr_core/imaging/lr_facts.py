"""What an LR image tells about how it was made, without a reference (most clinicians have none).

Each fact is an estimate with its error bar, and says "can't tell" where the image is too small
to measure it (:data:`MIN_SIDE`):

- **Noise**: the finest diagonal Haar band's RMS over 8×8 blocks, the quietest tenth of the
  blocks (a smear's background), in 8-bit grey levels; ± the spread of the three channels'
  estimates and the sampling error of the quiet blocks.
- **JPEG**: from the file itself (:attr:`~microsr_core.imaging.io.LoadedImage.jpeg_quality`), and
  from the pixels: the 8×8 block grid a JPEG leaves (the mean step across block borders over
  the mean step elsewhere; 1 = no grid), which survives saving the pixels again as PNG; ± half
  the difference between the image's top and bottom halves.
- **Effective resolution**: the highest spatial frequency whose power stands above the noise
  (SNR 1 on the radially averaged, Hann-windowed power spectrum of Y, the white noise floor
  taken from the noise estimate), as a fraction of Nyquist, ± one spectrum bin.
- **The spectrum's shape, the edges, the noise at the 2-pixel scale** (the score reads them, the
  page does not show them): band ratios and levels of the radial spectrum, the power along the
  pixel axes over the diagonals and in the corners beyond Nyquist; the sharpest edges' steepest
  step over their contrast (:func:`edge_sharpness`: the sharpest edges bound the blur, and mild
  JPEG hardly moves a strong edge); the Laplacian's kurtosis; :func:`coarse_noise` of Y and of
  the colour (B − Y, R − Y). A lower objective's PSF takes detail out of the upper bands and
  softens every edge, a sensor's noise, a camera's sharpening and JPEG put power back near
  Nyquist, so no single fact separates the kinds, and their weighing is not a sum: an image's
  size and source change what each means.

The LR kind (a real capture or a bicubic downscale) is suggested from these facts alone: a
JPEG file below quality :data:`JPEG_FILE_REAL` was saved as cameras save; otherwise a small
network of the pixel facts (one hidden layer of 8; :data:`SCORE_FACTS`, :data:`SCORE_HIDDEN`,
:data:`SCORE_OUT`, fit on train-split images by ``python bench/lr_facts_calibration.py --fit
--images 60``, never on the val or test split) decides, with its confidence, or says "can't tell"
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

#: Smallest side (px) at which the pixel facts are measured; below it each says "can't tell". At
#: 24 px the noise still has one 8×8 block of the finest band (16 px) and the 2-pixel scale one
#: (20 px); on train fields the score is as often right at 30 px (wbc_seg dataset1 at x4) as above.
MIN_SIDE = 24
#: A JPEG file below this quality was saved as a camera saves; at or above it the file format
#: decides nothing (a PNG and a quality-90 JPEG of the same field must get the same suggestion).
JPEG_FILE_REAL = 90
#: Below this confidence the suggestion is "can't tell" and the LR kind is left as it is.
MIN_CONFIDENCE = 0.6
#: A fitted score is never certain: its confidence is stated as at most this (the val split has
#: it wrong in a few of every hundred suggestions, docs/results.md).
MAX_CONFIDENCE = 0.99
#: The score of "real capture": a network of one hidden layer (tanh) over the standardised facts,
#: (fact, centre, scale) each; fit with class balance on train-split fields only by
#: ``python bench/lr_facts_calibration.py --fit --images 60``, which prints these constants.
SCORE_FACTS = (
    ("fine_detail_db", -26.282, 6.1907),
    ("top_band_db", -12.622, 4.5272),
    ("log_noise", 0.19205, 0.94982),
    ("blockiness", 1.2479, 0.15194),
    ("resolution", 0.90001, 0.13495),
    ("level30_db", -16.823, 3.5303),
    ("level50_db", -25.224, 5.266),
    ("level70_db", -31.589, 6.6072),
    ("level90_db", -36.213, 6.9785),
    ("axes_db", 2.777, 2.5729),
    ("corners_db", -5.3806, 1.9299),
    ("log_coarse_noise", 0.44493, 0.9528),
    ("log_kurtosis", 2.3413, 0.65642),
    ("sharpest_edges", 0.57343, 0.11913),
    ("sharp_edges", 0.38175, 0.063891),
    ("log_side", 4.5153, 0.67192),
    ("log_cb_noise", -0.39378, 0.81054),
    ("log_cr_noise", -0.80702, 0.6671),
)
#: The hidden layer: its biases (first row), then one row of weights per fact of :data:`SCORE_FACTS`.
SCORE_HIDDEN = np.array([
    (-0.5633, -1.026, -0.1209, 1.211, -1.68, 0.3691, 0.7535, 2.217),
    (-0.0819, 0.2855, 0.1529, -0.4324, -0.1055, -0.6388, 0.2121, 0.4655),
    (0.5919, -0.9956, -0.2466, 0.1626, -0.3004, -0.3479, 0.2205, 0.528),
    (-0.248, 0.006546, 0.4713, -0.7933, -0.304, 0.1924, 0.09477, 0.1932),
    (0.3368, -0.02213, -0.406, 0.585, -0.2369, 0.108, -0.2391, -0.8059),
    (0.3146, -0.4527, -0.3906, 0.5247, 0.3654, 0.2247, -0.4193, -0.0546),
    (-0.178, -0.2806, 0.06923, 0.3474, 0.4124, 0.4269, -0.4432, -0.2226),
    (0.3173, -0.3273, -0.4505, -0.07508, 0.001841, 0.3029, -0.4874, 0.2814),
    (-0.6533, 0.3426, 0.002498, -0.2115, -0.5763, -0.1803, -0.373, 0.4899),
    (0.1683, -0.3733, 0.2933, 0.5714, 0.3239, -0.03987, 0.143, 0.2899),
    (0.1211, -0.08079, -0.3809, 0.003389, -0.4269, 0.2151, 0.04453, 0.325),
    (0.5458, -0.7862, 0.1955, -0.3484, 0.05695, 0.3381, 0.1552, 0.3678),
    (0.7232, 0.004042, -0.9771, -0.2502, -0.2954, -0.3516, 0.5304, -0.5958),
    (-0.1516, 0.5589, -0.1297, 0.8394, -0.8402, -0.7417, 0.6302, -0.2315),
    (0.6121, -0.1438, -0.1045, 0.2854, 0.3029, 0.1798, 0.8101, -0.02179),
    (-0.3365, 0.56, 0.7082, 0.1502, 0.713, -0.4837, 0.6367, -0.2438),
    (1.037, 0.9786, 0.8647, -0.2909, -0.3055, -0.3176, 1.092, 0.3785),
    (-0.9657, 0.4856, 0.5476, -0.006824, 0.1809, -0.7146, 0.2158, -0.5481),
    (0.8588, 0.111, 0.284, -0.2584, 0.0457, 0.5314, 0.07867, -0.3401),
])
#: The output: its bias, then one weight per hidden unit.
SCORE_OUT = np.array((1.815, 3.024, -2.416, -2.292, -2.269, -1.798, 1.776, -1.966, 1.966))


def _than_average(what: str) -> tuple[str, str]:
    """The words of a fact above (more ``what``) or below (less) the training fields' mean."""
    return f"more {what} than the average field", f"less {what} than the average field"


#: What each fact says when it is above (first) or below (second) the training fields' mean, in
#: words the facts shown beside it cannot contradict; ``None``: a fact the reason never names.
_SAYS = {
    "blockiness": ("more of an 8×8 JPEG block grid in the pixels than the average field", "less of a JPEG block grid than the average field"),
    "fine_detail_db": _than_average("fine detail"),
    "top_band_db": ("more power near Nyquist (noise, sharpening or JPEG) than the average field", "less power near Nyquist than the average field"),
    "log_noise": _than_average("noise"),
    "resolution": ("power reaching further towards Nyquist than in the average field", "power ending lower than in the average field"),
    **{f"level{p}_db": _than_average(f"power at {p} % of Nyquist") for p in (30, 50, 70, 90)},
    "axes_db": ("finest detail aligned with the pixel axes more than in the average field", "finest detail aligned with the pixel axes less than in the average field"),
    "corners_db": _than_average("power in the spectrum's corners"),
    "log_coarse_noise": _than_average("noise at the 2-pixel scale"),
    "log_kurtosis": ("sparser fine detail (edges on a clean background) than the average field", "fine detail more like noise than in the average field"),
    "sharpest_edges": ("sharper sharpest edges than the average field", "softer sharpest edges than the average field"),
    "sharp_edges": ("sharper high-contrast edges than the average field", "softer high-contrast edges than the average field"),
    "log_cb_noise": _than_average("blue-yellow colour noise"),
    "log_cr_noise": _than_average("red-cyan colour noise"),
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


def blockiness_error(y: np.ndarray) -> float:
    """The block grid's error bar: half the difference between the top and the bottom half's."""
    half = y.shape[0] // 2
    return abs(blockiness(y[:half]) - blockiness(y[half:])) / 2


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


def laplacian(y: np.ndarray) -> np.ndarray:
    """The 5-point Laplacian of ``y`` (H, W) on its interior (H − 2, W − 2)."""
    return 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]


def coarse_noise(y: np.ndarray) -> float:
    """Noise sigma of Y (0-255) averaged over 2×2 pixels: Immerkær's Laplacian estimate over 8×8
    blocks, the quietest tenth (the frequencies a JPEG of quality 90 or more keeps), corrected by
    :data:`_COARSE_BIAS` (white noise of σ reads σ/2)."""
    height, width = (side - side % 2 for side in y.shape)
    half = y[:height, :width].reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    k = half[:-2, :-2] + half[:-2, 2:] + half[2:, :-2] + half[2:, 2:] - 2 * (half[:-2, 1:-1] + half[2:, 1:-1] + half[1:-1, :-2] + half[1:-1, 2:]) + 4 * half[1:-1, 1:-1]
    rows, cols = k.shape[0] // 8, k.shape[1] // 8
    blocks = np.abs(k[: rows * 8, : cols * 8]).reshape(rows, 8, cols, 8).mean(axis=(1, 3))
    return float(np.percentile(blocks, 10) * math.sqrt(math.pi / 2) / 6 / _COARSE_BIAS)


#: The quietest tenth of the 8×8 blocks' mean |Laplacian| over the mean of all, for white noise
#: (measured: 0.80 ± 0.02 over ten 256² fields of Gaussian noise, 0.80 ± 0.03 at 96²).
_COARSE_BIAS = 0.80


def pixel_facts(pixels: np.ndarray) -> dict[str, float] | None:
    """The facts the score reads, from the pixels alone; ``None`` below :data:`MIN_SIDE`. The
    colour noise is :func:`coarse_noise` of B − Y and R − Y, which a JPEG's 4:2:0 chroma keeps."""
    if min(pixels.shape[:2]) < MIN_SIDE:
        return None
    y = rgb_to_y(pixels).astype(np.float64)
    noise = noise_levels(pixels)
    fine = laplacian(y * 255)
    kurtosis = float(np.mean(fine**4) / max(np.mean(fine**2) ** 2, 1e-20))
    grey = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    colour = {f"log_{name}_noise": math.log(coarse_noise((pixels[..., c] - grey) * 255) + 0.1) for name, c in (("cb", 2), ("cr", 0))}
    return {"noise": noise, "log_noise": math.log(noise + 0.1), "resolution": effective_resolution(y, noise / 255),
            "blockiness": blockiness(y), **spectrum_facts(y), "log_coarse_noise": math.log(coarse_noise(y * 255) + 0.1),
            "log_kurtosis": math.log(max(kurtosis, 1e-6)), "sharpest_edges": edge_sharpness(y * 255, 15, 99),
            "sharp_edges": edge_sharpness(y * 255, 30, 90), "log_side": math.log(min(pixels.shape[:2])), **colour}


def _unmeasured(name: str, facts: dict[str, float]) -> bool:
    """An edge fact of a field without edges (:func:`edge_sharpness` 0): the reason does not name it."""
    return name.endswith("edges") and facts[name] == 0.0


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
             for i, (name, _, _) in enumerate(SCORE_FACTS) if _SAYS[name] and not _unmeasured(name, facts)]
    return 1 / (1 + math.exp(-total)), sorted(pulls, key=lambda item: -abs(item[1]))


@dataclass(frozen=True)
class LRFacts:
    """No-reference facts about an LR image, each with its error bar, and the LR kind they suggest
    (``suggested_kind`` ``None``: they cannot tell)."""

    noise_levels: float | None  # None: too small to tell
    noise_error: float | None
    jpeg_quality: int | None  # from the file
    blockiness: float | None
    blockiness_error: float | None
    resolution: float | None  # fraction of Nyquist
    suggested_kind: str | None  # "real", "bicubic" or None
    confidence: float | None  # of the suggestion, 0.5-1
    reason: str

    def lines(self) -> list[str]:
        """The facts in words, each with its error bar or "can't tell", and the suggestion last."""
        small = f"can't tell (the image is under {MIN_SIDE} px on a side)"
        jpeg = "; a JPEG file removes fine noise, so read it as a lower bound" if self.jpeg_quality else ""
        lines = [
            f"noise: ~{self.noise_levels:.2f} ± {self.noise_error:.2f} grey levels (8 bit; in the flattest areas{jpeg})" if self.noise_levels is not None else f"noise: {small}",
            f"file: JPEG, quality ~{self.jpeg_quality} (read from the file)" if self.jpeg_quality else "file: lossless",
            f"JPEG block grid in the pixels: {self.blockiness:.2f} ± {self.blockiness_error:.2f} (1 = none)" if self.blockiness is not None else f"JPEG block grid: {small}",
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
    confidence = min(max(probability, 1 - probability), MAX_CONFIDENCE)
    towards = [words for words, pull in pulls if (pull > 0) == (kind == "real")][:2]
    if confidence < MIN_CONFIDENCE or not towards:
        return None, confidence, f"the facts point both ways (a real capture {probability:.0%} likely)"
    return kind, confidence, " and ".join(towards)


def lr_facts(image: LoadedImage) -> LRFacts:
    """The facts of a loaded LR image (its file tells the JPEG quality, its pixels the rest)."""
    facts = pixel_facts(image.pixels)
    kind, confidence, reason = suggestion(image.jpeg_quality, facts)
    if facts is None:
        return LRFacts(None, None, image.jpeg_quality, None, None, None, kind, confidence, reason)
    return LRFacts(facts["noise"], noise_error(image.pixels), image.jpeg_quality, facts["blockiness"],
                   blockiness_error(rgb_to_y(image.pixels)), facts["resolution"], kind, confidence, reason)
