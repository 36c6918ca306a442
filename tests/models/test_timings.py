"""Run-time estimates from the last runs on this machine (the Run button's label)."""

import json

import numpy as np

from microsr_core.models import timings
from microsr_core.models.inference import SRResult
from microsr_core.models.serving import no_weights


def _result(seconds: float, method: str = "vdsr", scale: int = 4) -> SRResult:
    return SRResult(np.zeros((4, 4, 3), np.float32), method, scale, "cpu", seconds, 1, no_weights(method, scale, "bicubic"), "fp32", "openvino")


def test_an_estimate_is_the_median_rate_of_the_last_runs_times_the_pixels(microsr_home):
    assert timings.estimate("vdsr", 4, "cpu", 10**6) is None  # never timed here
    for seconds in (2.0, 4.0, 100.0):  # one slow run (a first compile) does not move the median far
        timings.record(_result(seconds), 500_000)
    assert timings.estimate("vdsr", 4, "cpu", 10**6) == 8.0  # median 4 s per 0.5 MP -> 8 s per MP
    assert timings.estimate("vdsr", 2, "cpu", 10**6) is None and timings.estimate("vdsr", 4, "cuda", 10**6) is None
    for _ in range(timings.KEEP):
        timings.record(_result(1.0), 10**6)
    assert timings.estimate("vdsr", 4, "cpu", 2 * 10**6) == 2.0  # only the last KEEP runs count


def test_a_damaged_file_starts_again(microsr_home):
    microsr_home.mkdir(parents=True)
    (microsr_home / "timings.json").write_text("{not json")
    assert timings.estimate("vdsr", 4, "cpu", 10**6) is None
    timings.record(_result(3.0), 10**6)
    assert json.loads((microsr_home / "timings.json").read_text()) == {"vdsr|x4|cpu": [3.0]}
