"""Capture maps: the normalised noise and detail a conditioned network reads, and what a user may override."""

import math

import numpy as np
import pytest

from microsr_core.errors import ParameterError
from microsr_core.imaging.capture_condition import CaptureCondition, estimate_condition
from microsr_core.imaging.capture_maps import ESTIMATE_RMSE, FAMILY_MEDIAN, CaptureAssumption, jittered, map_values


def test_map_values_are_log_positions_in_the_documented_ranges():
    assert map_values(1.0, 1.0).tolist() == pytest.approx([2 / 7, 0.5])  # log2(1/0.25) of 7 octaves; detail 1 in the middle
    assert map_values(8.0, 0.5).tolist() == pytest.approx([5 / 7, 0.25])
    assert map_values(0.01, 100.0).tolist() == [0.0, 1.0]  # clipped
    assert map_values(2.0, 0.6).dtype == np.float32


def test_jitter_is_the_estimators_log_error():
    rng = np.random.default_rng(0)
    values = np.array([jittered(2.0, 0.7, rng) for _ in range(4000)])
    spread = values.std(axis=0) * np.array([math.log(128), math.log(16)])  # back to log units
    assert spread == pytest.approx(ESTIMATE_RMSE, rel=0.06)
    assert np.median(values, axis=0) == pytest.approx(map_values(2.0, 0.7), abs=0.01)


def test_auto_reads_the_estimate_and_cant_tell_falls_back_to_the_family_median(sample):
    condition = estimate_condition(sample[:200, :200])
    maps = CaptureAssumption().maps(condition)
    assert (maps.noise, maps.detail) == (condition.noise, condition.detail)
    assert maps.line() == f"capture maps: noise {condition.noise:.1f} (estimated), detail {condition.detail:.2f} (estimated)"
    unknown = CaptureAssumption().maps(estimate_condition(sample[:10, :10]))
    assert (unknown.noise, unknown.detail) == FAMILY_MEDIAN and "family median: can't tell" in unknown.line()


def test_overrides_replace_only_their_number():
    condition = CaptureCondition(2.1, 1.0, 4.0, 0.8, 0.5, 1.2)
    maps = CaptureAssumption(blur="low").maps(condition)
    assert maps.line() == "capture maps: noise 2.1 (estimated), detail 1.00 (override: blur low)"
    both = CaptureAssumption(noise="high", blur="high").maps(None)
    assert (both.noise, both.detail) == (8.0, 0.6) and both.noise_source == "override: noise high"
    assert CaptureAssumption(noise="low").overridden and not CaptureAssumption().overridden
    with pytest.raises(ParameterError, match="blur must be one of auto, low, high, got 'medium'"):
        CaptureAssumption(blur="medium")
