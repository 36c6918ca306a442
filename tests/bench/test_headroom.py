"""bench/headroom.py: the above-Nyquist energy that bounds what SR can gain."""

import importlib.util
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location("headroom", Path(__file__).resolve().parents[2] / "bench" / "headroom.py")
headroom = importlib.util.module_from_spec(spec)
spec.loader.exec_module(headroom)


def grey_with_cosine(cycles_per_pixel: float, amplitude: float) -> np.ndarray:
    """An RGB image whose Y channel is a cosine of ``amplitude`` 8-bit grey levels along x."""
    x = np.arange(64)
    # Equal R, G, B change Y by 219/255 of their change (BT.601 studio range).
    grey = 0.5 + amplitude / 255 * 255 / 219 * np.cos(2 * np.pi * cycles_per_pixel * x)
    return np.repeat(np.tile(grey, (64, 1))[..., None], 3, axis=2).astype(np.float64)


def test_above_nyquist_rms_counts_only_frequencies_the_lr_image_cannot_hold():
    fine = grey_with_cosine(20 / 64, amplitude=4.0)  # 0.31 cycles/px: beyond x2's 0.25
    coarse = grey_with_cosine(10 / 64, amplitude=4.0)  # 0.16 cycles/px: within it
    assert np.isclose(headroom.above_nyquist_rms(fine, 2), 4.0 / np.sqrt(2), rtol=1e-3)
    assert headroom.above_nyquist_rms(coarse, 2) < 1e-3  # float32 colour conversion noise
    assert np.isclose(headroom.above_nyquist_rms(coarse, 4), 4.0 / np.sqrt(2), rtol=1e-3)  # x4: 0.125


def test_bicubic_cannot_restore_detail_beyond_nyquist():
    row = headroom.headroom(grey_with_cosine(20 / 64, amplitude=4.0).astype(np.float32), 2)
    assert row["bicubic_psnr_y"] < row["bicubic_psnr_y_unrounded_lr"] + 0.5
    # Error ≈ the lost cosine (RMS 2.83 grey levels): PSNR ≈ 20·log10(255 / 2.83) = 39.1 dB.
    assert 37.0 < row["bicubic_psnr_y"] < 41.0
