"""evaluate's per-image rows: bicubic measured once an image gives each method's row its old numbers."""

import numpy as np

from microsr_core.comparison.evaluate import BicubicBaseline, per_image_row
from microsr_core.imaging.degrade import bicubic_downscale, bicubic_upscale, modcrop
from microsr_core.imaging.metrics import invented_colour, measure, psnr_y


def test_a_row_over_the_shared_baseline_equals_the_row_measured_from_the_bicubic_image(sample):
    hr = modcrop(sample[:96, :96], 2)
    bicubic = bicubic_upscale(bicubic_downscale(hr, 2), 2)
    baseline = BicubicBaseline.of(bicubic, hr, 2)
    tinted = np.clip(bicubic * np.array([1.0, 0.8, 1.1], dtype=np.float32), 0, 1)  # a method that invents colour
    for sr in (bicubic, tinted, hr):
        row = per_image_row(measure(sr, hr, crop_border=2), sr, baseline, hr, 2)
        assert row["gain_db"] == psnr_y(sr, hr, 2) - psnr_y(bicubic, hr, 2)
        assert row["invented_colour_pct"] == invented_colour(sr, bicubic, hr, 2)
    assert row["gain_db"] > 0 and per_image_row(measure(tinted, hr, crop_border=2), tinted, baseline, hr, 2)["invented_colour_pct"] > 0
