import numpy as np
import pytest

from microsr_core.imaging.align import RELIABLE_PEAK, align_reference
from microsr_core.imaging.degrade import bicubic_downscale
from microsr_core.errors import AlignmentError
from microsr_core.imaging.io import load_image
from microsr_core.imaging.roi import Roi


@pytest.fixture
def field(bccd_dir) -> np.ndarray:
    return load_image(bccd_dir / "images" / "BloodImage_00010.jpg").pixels


def test_finds_offset_and_scale_of_a_bccd_crop(field):
    # LR: the whole field at 1/4 size; HR: a crop of the field at full size (4x magnification).
    lr = bicubic_downscale(field, 4)
    top, left = 100, 200
    hr = field[top : top + 240, left : left + 320]
    found = align_reference(lr, hr)
    assert abs(found.row - top / 4) <= 1 and abs(found.col - left / 4) <= 1
    assert found.scale == pytest.approx(4, rel=0.05)
    assert found.reliable and found.peak > RELIABLE_PEAK
    known = align_reference(lr, hr, scale=4)
    assert (known.row, known.col, known.height, known.width) == (25, 50, 60, 80)
    # The app's SR window of the match (compare.match_reference): its region, 4 times larger.
    assert Roi(known.row, known.col, known.height, known.width).scaled(4).slices() == (slice(100, 340), slice(200, 520))


def test_unrelated_field_is_reported_unreliable(field, bccd_dir):
    other = load_image(bccd_dir / "images" / "BloodImage_00020.jpg").pixels
    found = align_reference(bicubic_downscale(field, 4), other[100:340, 200:520], scale=4)
    assert not found.reliable
    assert "UNRELIABLE" in found.describe()


def test_synthetic_offset_without_shared_data(sample):
    lr = bicubic_downscale(sample, 2)
    found = align_reference(lr, sample[64:256, 128:320], scale=2)
    assert (found.row, found.col) == (32, 64) and found.reliable


def test_reference_larger_than_the_field_is_an_error(sample):
    with pytest.raises(AlignmentError, match="does not fit inside the LR image"):
        align_reference(sample[:100, :100], sample, scale=2)
    with pytest.raises(AlignmentError, match="at any magnification"):
        align_reference(sample[:50, :50], sample)
