"""Tiled inference equals untiled inference; device choice and caching."""

import numpy as np
import pytest
import torch

from microsr_core.models.device import resolve_device
from microsr_core.errors import ParameterError
from microsr_core.imaging.tiling import make_tiles
from microsr_core.models.inference import default_tile, get_method, smallest_tile, upscale
from microsr_core.models.registry import create
from tests.helpers import publish_random


@pytest.fixture
def random_vdsr(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr", "vdsr", "VDSR", (2, 3, 4), depth=20, channels=8)
    return create("vdsr", torch.device("cpu"))


@pytest.mark.parametrize("scale, tile", [(2, 48), (3, 40), (4, 30)])
def test_tiled_equals_untiled_for_vdsr(random_vdsr, sample, scale, tile):
    lr = sample[:70, :90]
    whole = upscale(lr, random_vdsr, scale, tile=0)
    tiled = upscale(lr, random_vdsr, scale, tile=tile)
    assert whole.tiles == 1 and tiled.tiles > 1
    from microsr_core.imaging.color import rgb_to_y

    np.testing.assert_allclose(rgb_to_y(tiled.image), rgb_to_y(whole.image), atol=1e-4)
    # The random network really changes the image (the test would pass vacuously otherwise).
    assert np.abs(whole.image - upscale(lr, "bicubic", scale, tile=0).image).max() > 0.01


def test_a_tile_under_four_margins_is_widened_and_said(random_vdsr, sample):
    """Three margins of overlap leave a 3-margin tile one new pixel: such a request would run a tile
    per pixel (2601 for a 90-pixel block), so it is widened to four margins and the result says so."""
    lr = sample[:70, :90]
    margin = random_vdsr.margin(2)
    tiled = upscale(lr, random_vdsr, 2, tile=3 * margin + 2)
    assert smallest_tile(margin) == 4 * margin
    assert tiled.tiles == len(make_tiles(70, 90, 4 * margin, margin)) < len(make_tiles(70, 90, 3 * margin + 2, margin)) / 10
    assert any(f"tiles of {4 * margin} px, not {3 * margin + 2}" in note for note in tiled.notes)
    np.testing.assert_allclose(tiled.image, upscale(lr, random_vdsr, 2, tile=0).image, atol=1e-4)
    assert not upscale(lr, random_vdsr, 2, tile=4 * margin).notes
    assert not upscale(lr[:40, :40], random_vdsr, 2, tile=0).notes and not upscale(lr[:40, :40], random_vdsr, 2, tile=45).notes  # one tile anyway


def test_tiled_equals_untiled_for_bicubic(sample):
    np.testing.assert_allclose(upscale(sample, "bicubic", 3, tile=64).image, upscale(sample, "bicubic", 3, tile=0).image, atol=1e-5)


def test_models_are_loaded_once_per_device():
    assert get_method("bicubic", "cpu") is get_method("bicubic", "auto" if not torch.cuda.is_available() else "cpu")


def test_device_choice():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ParameterError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_bad_image_shape_and_tile():
    with pytest.raises(ParameterError, match=r"\(H, W, 3\)"):
        upscale(np.zeros((8, 8), np.float32), "bicubic", 2)
    with pytest.raises(ParameterError, match="tile size"):
        upscale(np.zeros((8, 8, 3), np.float32), "bicubic", 2, tile=-1)


def test_result_records_the_precision_the_network_ran_in(random_vdsr, sample):
    lr = sample[:40, :40]
    exact = upscale(lr, random_vdsr, 2, precision="fp32")
    reduced = upscale(lr, random_vdsr, 2, precision="bf16")
    assert (exact.precision, reduced.precision) == ("fp32", "bf16")
    difference = np.abs(reduced.image - exact.image).max()
    assert 0 < difference < 0.01
    # Bicubic has no network: whatever is asked, it computes in float32.
    assert upscale(lr, "bicubic", 2, precision="bf16").precision == "fp32"


@pytest.mark.parametrize("method, precision, message", [("bicubic", "fp8", "unknown precision 'fp8'"), ("vdsr", "fp16", "fp16 is for CUDA")])
def test_bad_precision(random_vdsr, method, precision, message):
    with pytest.raises(ParameterError, match=message):
        upscale(np.zeros((8, 8, 3), np.float32), random_vdsr if method == "vdsr" else method, 2, device="cpu", precision=precision)


def test_default_tile_follows_memory_reach_and_feature_stride():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_tile(cpu, 4) == 256 and default_tile(cuda, 4) == 512  # 1024 / 2048 output pixels
    assert default_tile(cpu, 4, margin=40) == 320  # at least 8 margins: overlaps stay small
    # Activations at LR resolution are 16x smaller at x4: tiles four times as wide for the same memory.
    assert default_tile(cpu, 4, feature_stride=4) == 1024
    assert default_tile(cpu, 32, margin=2) == 64  # never below 64 LR pixels


@pytest.fixture
def maps_vdsr(tmp_path, monkeypatch):
    """A random VDSR that reads the capture maps (its branch drawn too, so the maps matter)."""
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr", "vdsr", "VDSR", (2, 3, 4), depth=20, channels=8, conditions=2)
    return create("vdsr", torch.device("cpu"))


@pytest.mark.parametrize("scale, tile", [(2, 48), (4, 30)])
def test_tiled_equals_untiled_with_capture_maps_estimated_once_per_image(maps_vdsr, sample, scale, tile, monkeypatch):
    from microsr_core.imaging.capture_condition import estimate_condition
    from microsr_core.imaging.color import rgb_to_y

    lr = sample[:70, :90]
    calls = []
    monkeypatch.setattr("microsr_core.models.inference.estimate_condition", lambda pixels: calls.append(pixels.shape) or estimate_condition(pixels))
    whole = upscale(lr, maps_vdsr, scale, tile=0)
    tiled = upscale(lr, maps_vdsr, scale, tile=tile)
    assert tiled.tiles > 1 and calls == [(70, 90, 3), (70, 90, 3)]  # the whole image's, once a call: every tile reads it
    assert tiled.capture_maps == whole.capture_maps and whole.capture_maps.noise_source == "estimated"
    np.testing.assert_allclose(rgb_to_y(tiled.image), rgb_to_y(whole.image), atol=1e-4)
    given = upscale(lr, maps_vdsr, scale, tile=tile, condition=estimate_condition(lr))
    assert len(calls) == 2 and np.array_equal(given.image, tiled.image)  # a caller's estimate is not made again
