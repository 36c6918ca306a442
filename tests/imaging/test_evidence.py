"""The no-reference evidence: self-ensemble transforms, differences, consensus, windows."""

from __future__ import annotations

import numpy as np
import pytest

from microsr_core.imaging.evidence import (INVERSES, TRANSFORMS, central_window, chroma_difference, consensus_departure,
                                           disagreement_map, ensemble_spread, luma_difference)

GREY_STEP_Y = 10 * (65.481 + 128.553 + 24.966) / 255  # Y levels of +10/255 on every channel


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0.2, 0.7, (6, 9, 3)).astype(np.float32)


def test_every_inverse_undoes_its_transform_and_all_eight_differ(image):
    seen = set()
    for (_, forward), inverse in zip(TRANSFORMS, INVERSES):
        moved = forward(image)
        assert np.array_equal(inverse(moved), image)
        seen.add(moved.tobytes())
    assert len(TRANSFORMS) == 8 and len(seen) == 8


def test_a_grey_shift_changes_luma_by_its_levels_and_no_chroma(image):
    shifted = image + 10 / 255
    assert luma_difference(shifted, image) == pytest.approx(np.full(image.shape[:2], GREY_STEP_Y), abs=1e-3)
    assert chroma_difference(shifted, image).max() < 1e-3
    red = image.copy()
    red[..., 0] += 10 / 255
    assert chroma_difference(red, image) == pytest.approx(np.full(image.shape[:2], 10 * np.hypot(37.797, 112.0) / 255), abs=1e-3)


def test_spread_and_consensus_departure_in_levels(image):
    shifted = image + 10 / 255
    assert ensemble_spread([image, image]).max() == 0
    assert ensemble_spread([image, shifted]) == pytest.approx(np.full(image.shape[:2], GREY_STEP_Y / 2), abs=1e-3)
    results = {"a": image, "b": image, "c": shifted}
    assert consensus_departure(results, "c") == pytest.approx(np.full(image.shape[:2], GREY_STEP_Y), abs=1e-3)
    assert consensus_departure(results, "a") == pytest.approx(np.full(image.shape[:2], GREY_STEP_Y / 2), abs=1e-3)
    with pytest.raises(ValueError):
        consensus_departure({"a": image}, "a")


def test_disagreement_keeps_only_departures_above_the_noise():
    departure = np.array([[0.5, 2.0], [7.0, 9.5]], dtype=np.float32)
    assert disagreement_map(departure, noise_levels=2.5).tolist() == [[0, 0], [0, 9.5]]  # threshold 3 x 2.5 = 7.5
    assert disagreement_map(departure, noise_levels=0.1).tolist() == [[0, 2.0], [7.0, 9.5]]  # at least 1 level


def test_central_window_is_centred_and_bounded():
    assert central_window((480, 640, 3), 128) == (slice(176, 304), slice(256, 384))
    assert central_window((60, 50, 3), 128) == (slice(0, 60), slice(0, 50))
