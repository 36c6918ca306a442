"""The capture maps a conditioned network reads: a capture's noise and detail as two numbers in [0, 1].

A network trained with ``train vdsr --capture-maps true`` reads, besides the image, two maps
constant over it (as SRMD and FFDNet read noise-level and blur maps; Zhang et al. 2018):

- **noise** (RMS grey levels of Y, :mod:`.capture_condition`): ``log(noise / 0.25) / log(128)``,
  so :data:`NOISE_RANGE` 0.25 .. 32 grey levels maps to 0 .. 1;
- **detail** (1 = as sharp as a bicubic downscale): ``log(detail / 0.25) / log(16)``, so
  :data:`DETAIL_RANGE` 0.25 .. 4 maps to 0 .. 1 (1 is 0.5);

both clipped to [0, 1] (the family's captures lie within: val 0.38–22.9 grey levels, detail
0.21–2.3). Log units, because the estimator's errors are multiplicative (:data:`ESTIMATE_RMSE`).

Training reads each patch's measured numbers jittered by :data:`ESTIMATE_RMSE`; inference reads
:func:`~.capture_condition.estimate_condition`, the family's median (:data:`FAMILY_MEDIAN`)
where that can't tell, or a user's override (:data:`LEVELS`): :class:`CaptureAssumption`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .capture_condition import CaptureCondition

NOISE_RANGE = (0.25, 32.0)
DETAIL_RANGE = (0.25, 4.0)
#: The estimator's RMSE in log units (noise, detail): its chosen networks' 5-fold out-of-fold
#: error on train fields (docs/results.md, "Capture condition": 0.44 with 4 hidden units, 0.36
#: with 2); the 90 % bars of :data:`~.capture_condition.CONDITION_ERRORS` (±0.46 / ±0.49 for
#: large LRs) are about 1.6 of them. Training jitters the measured numbers by this much.
ESTIMATE_RMSE = (0.44, 0.36)
#: The family's median capture (noise grey levels, detail), for an LR too small to estimate:
#: the median of 120 :meth:`~.capture_family.CaptureFamily.conditioned_pair` draws on train crops
#: (up to 192 px, scales 2–4; measured 2026-12-07: 10th–90th percentiles 1.4–7.7 grey levels, detail 0.34–0.99).
FAMILY_MEDIAN = (3.3, 0.59)
#: What a user's ``low`` and ``high`` stand for: noise in grey levels (a quiet lossless camera,
#: a phone's), blur as detail (as sharp as a bicubic downscale, a soft objective's).
LEVELS = {"noise": {"low": 1.0, "high": 8.0}, "blur": {"low": 1.0, "high": 0.6}}
CHOICES = ("auto", "low", "high")


def map_values(noise: float, detail: float) -> np.ndarray:
    """The two maps' values (float32 (2,), each in [0, 1]) of a capture's noise and detail."""
    values = [math.log(value / low) / math.log(high / low) for value, (low, high) in ((noise, NOISE_RANGE), (detail, DETAIL_RANGE))]
    return np.clip(np.array(values, dtype=np.float32), 0.0, 1.0)


def jittered(noise: float, detail: float, rng: np.random.Generator) -> np.ndarray:
    """:func:`map_values` of measured numbers, each multiplied by exp(N(0, :data:`ESTIMATE_RMSE`)):
    a network trained on them trusts an estimate as much as it deserves."""
    noise_jitter, detail_jitter = rng.normal(0.0, ESTIMATE_RMSE)
    return map_values(noise * math.exp(noise_jitter), detail * math.exp(detail_jitter))


@dataclass(frozen=True)
class CaptureMaps:
    """The noise and detail a conditioned network ran with, and where each came from."""

    noise: float
    detail: float
    noise_source: str
    detail_source: str

    def values(self) -> np.ndarray:
        return map_values(self.noise, self.detail)

    def describe(self) -> str:
        """``noise 2.1 (estimated), detail 0.80 (override: blur low)``: for panel titles."""
        return f"noise {self.noise:.1f} ({self.noise_source}), detail {self.detail:.2f} ({self.detail_source})"

    def line(self) -> str:
        """``capture maps: noise 2.1 (estimated), detail 0.80 (override: blur low)``."""
        return f"capture maps: {self.describe()}"


@dataclass(frozen=True)
class CaptureAssumption:
    """What a user asks a conditioned network to assume: ``noise`` and ``blur`` each ``auto``
    (estimated from the LR), ``low`` or ``high`` (:data:`LEVELS`)."""

    noise: str = "auto"
    blur: str = "auto"

    def __post_init__(self):
        for name in ("noise", "blur"):
            if getattr(self, name) not in CHOICES:
                raise ParameterError(f"{name} must be one of {', '.join(CHOICES)}, got '{getattr(self, name)}'")

    @property
    def overridden(self) -> bool:
        return (self.noise, self.blur) != ("auto", "auto")

    def describe(self) -> str:
        """``noise auto, blur high``: for panel titles and file names."""
        return f"noise {self.noise}, blur {self.blur}"

    def maps(self, condition: CaptureCondition | None) -> CaptureMaps:
        """The maps to run with, ``condition`` being the LR's estimate (None where both are overridden)."""
        measured = condition is not None and condition.noise is not None
        estimate = (condition.noise, condition.detail) if measured else FAMILY_MEDIAN
        source = "estimated" if measured else "family median: can't tell"
        noise = (LEVELS["noise"][self.noise], f"override: noise {self.noise}") if self.noise != "auto" else (estimate[0], source)
        detail = (LEVELS["blur"][self.blur], f"override: blur {self.blur}") if self.blur != "auto" else (estimate[1], source)
        return CaptureMaps(noise[0], detail[0], noise[1], detail[1])
