"""How an LR capture was degraded, as two numbers: its noise and its detail.

Both are *measured* on what a capture did, not read off its parameters, because a camera
denoises, sharpens and compresses after the sensor, so a full well or a JPEG quality says little
about what is left in the pixels:

- **noise**: the RMS, in 8-bit grey levels of Y, of what the sensor and the file added: the
  capture against the same capture made without sensor noise and with a lossless file
  (:meth:`~.capture_family.CameraPipeline.conditioned`; 8-bit rounding counts, about 0.29);
- **detail**: the RMS of Y's Laplacian in the noise-free capture over that in the bicubic
  downscale of the same HR field (1 = as sharp as a bicubic downscale, below 1 blurred by the
  optics, the demosaicing or the denoising, above 1 sharpened).

:func:`estimate_condition` estimates both from the LR pixels alone, with 90 % error bars, through
a small network per number (one hidden layer, tanh) of the pixel facts of
:func:`~.lr_facts.pixel_facts` and of :func:`condition_facts` (among them :func:`edge_overshoot`,
how far edges overshoot their two sides: a camera's sharpening and JPEG ringing put it there, a
blur does not). Their constants (:data:`CONDITION_FACTS`, ``NOISE_*``, ``DETAIL_*``,
:data:`CONDITION_ERRORS`) are fit on train-split fields only by
``python bench/capture_condition_fit.py --fit --images 20``, which prints them;
``docs/results.md`` ("Capture condition") reports them on val and on the held-out pipelines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .color import rgb_to_y
from .lr_facts import MIN_SIDE, edge_sharpness, laplacian, pixel_facts


def noise_rms(capture: np.ndarray, noise_free: np.ndarray) -> float:
    """RMS of Y (8-bit grey levels) of ``capture`` minus the ``noise_free`` capture (both (H, W, 3) in [0, 1])."""
    difference = rgb_to_y(capture).astype(np.float64) - rgb_to_y(noise_free)
    return float(np.sqrt(np.mean(difference**2)) * 255)


def detail_ratio(noise_free: np.ndarray, bicubic: np.ndarray) -> float:
    """RMS of Y's Laplacian of the ``noise_free`` capture over that of the ``bicubic`` downscale of the same HR."""
    def rms(image: np.ndarray) -> float:
        return float(np.sqrt(np.mean(laplacian(rgb_to_y(image).astype(np.float64)) ** 2)))

    return rms(noise_free) / max(rms(bicubic), 1e-12)


def _overshoots_along_rows(y: np.ndarray, contrast: float) -> np.ndarray:
    """:func:`edge_overshoot`'s value of each edge run along the rows of ``y``, a strip of rows at a
    time (a run's seven shifted copies of a whole large image would not fit in memory)."""
    found = []
    for top in range(0, y.shape[0], _STRIP_ROWS):
        strip = y[top:top + _STRIP_ROWS]
        shifted = [strip[:, k:strip.shape[1] - 6 + k] for k in range(7)]
        low, high = np.minimum(shifted[0], shifted[6]), np.maximum(shifted[0], shifted[6])
        steps = [np.abs(shifted[k + 1] - shifted[k]) for k in range(6)]
        middle = np.maximum(steps[2], steps[3])  # the largest step first found in the middle of the run
        edges = (high - low > contrast) & (middle > np.maximum(steps[0], steps[1])) & (middle >= np.maximum(steps[4], steps[5]))
        top_value, bottom_value = np.max([s[edges] for s in shifted], axis=0), np.min([s[edges] for s in shifted], axis=0)
        beyond = np.maximum(top_value - high[edges], 0) + np.maximum(low[edges] - bottom_value, 0)
        found.append(beyond / (high - low)[edges])
    return np.concatenate(found)


#: Rows of a strip in :func:`_overshoots_along_rows`.
_STRIP_ROWS = 256


def edge_overshoot(y: np.ndarray, contrast: float = 20.0) -> tuple[float, float]:
    """How far Y (0-255) goes beyond the levels on the two sides of its strong edges, over the
    edge's step, in 7-pixel runs along rows and columns whose ends differ by over ``contrast`` grey
    levels and whose largest step is in the middle (an edge, not a texture): its mean and 90th
    percentile. A blurred edge rises monotonically (0); an unsharp mask, ringing optics or a JPEG
    add a lobe on each side, noise a little everywhere. (0, 0) where there are fewer than 20 such edges."""
    overshoot = np.concatenate([_overshoots_along_rows(plane, contrast) for plane in (y, y.T)])
    if overshoot.size < 20:
        return 0.0, 0.0
    return float(np.mean(overshoot)), float(np.percentile(overshoot, 90))


def condition_facts(pixels: np.ndarray) -> dict[str, float] | None:
    """:func:`~.lr_facts.pixel_facts` and, of Y, what the detail shows in: the edge overshoot, the
    median edge's steepness (:func:`~.lr_facts.edge_sharpness`; the sharpest edges bound the blur,
    the typical edge shows it) and the log of the Laplacian's RMS over the gradient's (how fine
    the image's changes are). ``None`` below :data:`~.lr_facts.MIN_SIDE`."""
    facts = pixel_facts(pixels)
    if facts is None:
        return None
    y = rgb_to_y(pixels).astype(np.float64) * 255
    mean, high = edge_overshoot(y)
    gradient = np.hypot(np.diff(y, axis=1)[:-1], np.diff(y, axis=0)[:, :-1])
    fineness = math.log(np.sqrt(np.mean(laplacian(y) ** 2)) + 1e-3) - math.log(np.sqrt(np.mean(gradient**2)) + 1e-3)
    return {**facts, "overshoot": mean, "overshoot90": high, "median_edges": edge_sharpness(y, 15, 50), "log_fineness": fineness}


#: The facts the networks read, each with its train mean and standard deviation (they are standardised first).
CONDITION_FACTS = (
    ("fine_detail_db", -25.602, 6.8839),
    ("top_band_db", -11.938, 4.9196),
    ("log_noise", 0.71114, 1.0362),
    ("blockiness", 1.2251, 0.16382),
    ("resolution", 0.82352, 0.18937),
    ("level30_db", -16.587, 3.7077),
    ("level50_db", -24.716, 5.7103),
    ("level70_db", -30.946, 7.171),
    ("level90_db", -35.184, 7.5961),
    ("axes_db", 2.6665, 3.3255),
    ("corners_db", -5.0878, 3.0497),
    ("log_coarse_noise", 0.84746, 0.94327),
    ("log_kurtosis", 1.9729, 0.56045),
    ("sharpest_edges", 0.5938, 0.13248),
    ("sharp_edges", 0.38967, 0.083224),
    ("log_side", 4.0446, 0.65284),
    ("log_cb_noise", 0.16397, 1.0284),
    ("log_cr_noise", -0.31943, 0.92092),
    ("overshoot", 0.14621, 0.12475),
    ("overshoot90", 0.39212, 0.30559),
    ("median_edges", 0.20791, 0.033562),
    ("log_fineness", 0.16425, 0.25098),
)
#: Log noise: the hidden layer (biases first, then one row per fact of :data:`CONDITION_FACTS`; its width
#: chosen by 5-fold CV on train), the output (bias, then one weight per hidden unit) and the log
#: target's centre and scale.
NOISE_HIDDEN = np.array([
    (-2.452, 0.5092, 0.5311, 0.01108),
    (-0.1414, 0.136, 0.1354, -0.1236),
    (-0.7139, -0.0295, 0.2526, 0.2473),
    (-1.193, -0.4648, 0.7142, 0.8199),
    (-0.4184, -0.09937, 0.09625, 0.171),
    (-0.2465, -0.07898, -0.2645, -0.01919),
    (0.013, -0.03211, -0.04782, 0.01316),
    (-0.5959, 0.05733, 0.2553, 0.06822),
    (-0.4178, -0.007649, -0.1843, -0.01183),
    (0.3653, -0.2338, -0.3867, -0.1575),
    (-0.3071, -0.06945, -0.03328, 0.02902),
    (-0.9525, 0.008997, 0.1314, -0.002554),
    (-0.02649, 0.3658, -0.6903, -0.5074),
    (0.4986, -0.02216, 0.1487, 0.1454),
    (-0.3463, 0.1339, -0.08045, -0.009744),
    (1.927, 0.3214, 0.4892, -0.0508),
    (0.2045, -0.1635, 0.2654, 0.3544),
    (1.706, 0.2651, 0.07264, -0.2157),
    (-0.2161, -0.034, 0.1279, 0.166),
    (0.05162, 0.2135, 0.04422, 0.0005104),
    (0.03373, 0.0641, -0.1577, -0.1702),
    (-0.1322, -0.3, 0.2946, 0.5066),
    (0.1742, 0.06602, -0.01524, 0.04033),
])
NOISE_OUT = np.array((-0.8082, -1.082, 1.36, -1.023, 1.395))
NOISE_TARGET = (0.58925, 1.2865)
#: Log detail: as for the noise.
DETAIL_HIDDEN = np.array([
    (1.133, -0.3507),
    (-1.09, -0.151),
    (0.3373, 0.4199),
    (-0.9548, -0.2465),
    (-0.02709, 0.03425),
    (-0.4611, 0.1523),
    (-0.2376, 0.08531),
    (-0.4742, -0.06378),
    (1.356, 0.3444),
    (-0.03834, -0.5338),
    (0.1317, -0.1119),
    (0.2892, 0.2482),
    (0.02868, -0.09129),
    (0.1501, -0.04359),
    (-0.2256, -0.06608),
    (1.008, 0.07906),
    (0.5504, 0.08112),
    (0.4039, 0.1195),
    (0.6736, 0.2076),
    (-0.07751, -0.703),
    (0.04885, 0.6259),
    (0.08341, 0.2138),
    (0.7391, -0.06557),
])
DETAIL_OUT = np.array((-0.9943, 1.07, -1.688))
DETAIL_TARGET = (-0.41114, 0.44641)
#: The 90 % error bars in log units (the 90th percentile of |out-of-fold residual| on train) of
#: noise and detail, for LRs whose shorter side is at most the first number (px).
CONDITION_ERRORS = (
    (64, 0.8058, 0.6034),
    (160, 0.4647, 0.5854),
    (100000, 0.4636, 0.4926),
)


#: Detail ratios that count as "about as sharp as a bicubic downscale": an interval reaching
#: beyond them, yet containing 1, cannot tell blurred from sharpened (the 90 % bars span ~2.7x).
AS_SHARP = (0.8, 1.25)


@dataclass(frozen=True)
class CaptureCondition:
    """An LR capture's estimated noise (8-bit grey levels of Y) and detail (1 = a bicubic
    downscale's), each with its 90 % interval; all ``None`` where the image is too small to tell."""

    noise: float | None
    noise_low: float | None
    noise_high: float | None
    detail: float | None
    detail_low: float | None
    detail_high: float | None

    def looks(self) -> str:
        """The detail in words: blurred or sharpened only where the whole interval says so, "as
        sharp as a bicubic downscale" only where it lies within :data:`AS_SHARP`, else can't tell."""
        if self.detail_high < 1:
            return "blurred"
        if self.detail_low > 1:
            return "sharpened"
        if AS_SHARP[0] <= self.detail_low and self.detail_high <= AS_SHARP[1]:
            return "about as sharp as a bicubic downscale"
        return "can't tell blurred from sharpened"

    def line(self) -> str:
        """One line for the user: each number ± half its 90 % interval, or "can't tell"."""
        if self.noise is None:
            return f"capture: can't tell (the image is under {MIN_SIDE} px on a side)"
        return (f"capture: sensor and file noise {self.noise:.1f} ± {(self.noise_high - self.noise_low) / 2:.1f} grey levels, "
                f"detail {self.detail:.2f} ± {(self.detail_high - self.detail_low) / 2:.2f} ({self.looks()})")

    def row(self) -> dict[str, float | None]:
        """The estimate as the flat fields of :data:`ROW_FIELDS`, for a metrics row."""
        return {field: getattr(self, field.removeprefix("capture_")) for field in ROW_FIELDS}


#: The numbers of a :class:`CaptureCondition`, in order.
_NUMBERS = ("noise", "noise_low", "noise_high", "detail", "detail_low", "detail_high")
#: The fields a metrics row records of a :class:`CaptureCondition` (``None``: can't tell).
ROW_FIELDS = tuple(f"capture_{name}" for name in _NUMBERS)


def _network(z: np.ndarray, hidden: np.ndarray, out: np.ndarray, target: tuple[float, float]) -> float:
    """One number's network on the standardised facts ``z``: its log estimate."""
    return float(out[0] + np.tanh(hidden[0] + z @ hidden[1:]) @ out[1:]) * target[1] + target[0]


def condition_estimate(facts: dict[str, float]) -> CaptureCondition:
    """The networks' estimate from :func:`condition_facts`, with the 90 % error bars of the LR's size
    (:data:`CONDITION_ERRORS`: out-of-fold residuals on train, in log units)."""
    z = np.array([(facts[name] - centre) / scale for name, centre, scale in CONDITION_FACTS])
    noise, detail = _network(z, NOISE_HIDDEN, NOISE_OUT, NOISE_TARGET), _network(z, DETAIL_HIDDEN, DETAIL_OUT, DETAIL_TARGET)
    side = math.exp(facts["log_side"])
    noise_error, detail_error = next((row for row in CONDITION_ERRORS if side <= row[0]), CONDITION_ERRORS[-1])[1:]
    return CaptureCondition(math.exp(noise), math.exp(noise - noise_error), math.exp(noise + noise_error),
                            math.exp(detail), math.exp(detail - detail_error), math.exp(detail + detail_error))


#: The largest shorter side the networks saw (BCCD fields at x2: 320×240 px LR). A larger image is
#: read as :data:`TILES` × :data:`TILES` tiles of this side spread over it: its size alone would put
#: the networks outside what they were fit on, and reading every pixel of a 16 MP upload takes a minute.
TILE_SIDE = 240
TILES = 3


def spread_tiles(pixels: np.ndarray) -> list[np.ndarray]:
    """Up to :data:`TILES` × :data:`TILES` tiles of :data:`TILE_SIDE` px, evenly spread over ``pixels`` (corners included)."""
    starts = [np.unique(np.linspace(0, side - TILE_SIDE, TILES).round().astype(int)) for side in pixels.shape[:2]]
    return [pixels[top:top + TILE_SIDE, left:left + TILE_SIDE] for top in starts[0] for left in starts[1]]


def estimate_condition(lr_pixels: np.ndarray) -> CaptureCondition:
    """How the LR capture ``lr_pixels`` (H, W, 3 in [0, 1]) was degraded, from its pixels alone;
    "can't tell" (all ``None``) under :data:`~.lr_facts.MIN_SIDE` px on a side. An image whose
    shorter side exceeds :data:`TILE_SIDE` gets the median, number by number and bound by bound,
    of its :func:`spread_tiles`' estimates."""
    if min(lr_pixels.shape[:2]) > TILE_SIDE:
        tiles = [estimate_condition(tile) for tile in spread_tiles(lr_pixels)]
        return CaptureCondition(*(float(np.median([getattr(tile, name) for tile in tiles])) for name in _NUMBERS))
    facts = condition_facts(lr_pixels)
    if facts is None:
        return CaptureCondition(None, None, None, None, None, None)
    return condition_estimate(facts)
