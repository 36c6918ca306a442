"""The built-in gallery: every sample loads in the image contract, files stay small, licences are noted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microsr_core.errors import ParameterError
from microsr_core.samples import DEFAULT, FOLDER, RED_CELL_UM, SAMPLES, get_sample

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("key", list(SAMPLES))
def test_every_sample_loads_as_float_rgb(key):
    pixels = SAMPLES[key].load()
    assert pixels.dtype == np.float32 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0 and min(pixels.shape[:2]) >= 256


def test_default_is_the_blood_smear_with_its_estimated_pixel_size():
    sample = get_sample(DEFAULT)
    assert sample.load().shape == (480, 640, 3)
    assert sample.um_per_px == pytest.approx(RED_CELL_UM / 103.5, abs=1e-4) and "estimated" in sample.um_per_px_note


def test_committed_images_total_at_most_one_megabyte_and_each_is_listed():
    files = [p for p in FOLDER.iterdir() if p.suffix in (".png", ".jpg")]
    assert sum(p.stat().st_size for p in files) <= 1_000_000
    assert sorted(p.name for p in files) == sorted(s.file for s in SAMPLES.values() if s.file)


def test_readme_notes_every_sample_and_its_licence():
    text = README.read_text()
    for sample in SAMPLES.values():
        assert sample.title in text and sample.licence in text, sample.key


def test_unknown_sample_is_refused_with_the_choices():
    with pytest.raises(ParameterError, match="blood_smear"):
        get_sample("nope")
