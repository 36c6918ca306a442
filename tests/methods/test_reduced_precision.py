"""Accuracy guard: every shipped model in bf16 stays within 0.02 dB Y-PSNR of its float32 output.

Parametrised over ``weights/manifest.json``, so a model that ships later is covered without
editing this file, and over the CPU backends (PyTorch; OpenVINO where it is installed). Small real crops: the built-in sample and two held-out (test split) BCCD
fields (skipped where ``../shared`` data is absent). ``bench/run.py`` reports the same delta
on full-size images.
"""

import numpy as np
import pytest
import torch

from microsr_core.data import list_images, split_of
from microsr_core.degrade import Degradation, modcrop
from microsr_core.inference import upscale
from microsr_core.io import load_image
from microsr_core.metrics import psnr_y
from microsr_core.registry import create, method_class, method_names
from microsr_core.runtime import ExportMismatch, missing_packages
from microsr_core.weights import read_manifest

#: Largest Y-PSNR change that reduced precision may cause (issue 18).
TOLERANCE_DB = 0.02
CROP = 192  # HR pixels: a few cells, well inside every network's receptive field reach

SHIPPED = [(model, scale) for model, card in sorted(read_manifest().items()) for scale in card["scales"]]
BACKENDS = ["pytorch"] + ([] if missing_packages() else ["openvino"])
_instances = {}


def _method_of(model: str) -> str:
    """The registered method whose shipped weights are manifest entry ``model``."""
    users = [
        name for name in method_names(include_promoted=False)
        if model == method_class(name).weights or model in getattr(method_class(name), "scale_weights", {}).values()
    ]
    assert users, f"weights/manifest.json entry '{model}' is used by no method"
    return users[0]


def _bccd_test_field(bccd_dir, index: int) -> np.ndarray:
    fields = [path for path in list_images(bccd_dir / "images") if split_of(path) == "test"]
    image = load_image(fields[index]).pixels
    top, left = (image.shape[0] - CROP) // 2, (image.shape[1] - CROP) // 2
    return image[top : top + CROP, left : left + CROP]


def _method_on(model: str, backend: str):
    """One instance per model and backend for the whole module (OpenVINO compiles on creation)."""
    if (model, backend) not in _instances:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MICROSR_CPU_BACKEND", backend)
            try:
                _instances[model, backend] = create(_method_of(model), torch.device("cpu"))
            except ExportMismatch as exc:  # U-Nets pad in Python: auto runs them in PyTorch
                _instances[model, backend] = exc
    if isinstance(_instances[model, backend], ExportMismatch):
        pytest.skip(f"{model} does not run in {backend} ({_instances[model, backend]}); auto runs it in PyTorch")
    return _instances[model, backend]


@pytest.fixture(params=["sample", "bccd_test_0", "bccd_test_1"])
def hr_crop(request, sample) -> np.ndarray:
    if request.param == "sample":
        return sample[100 : 100 + CROP, 100 : 100 + CROP]
    return _bccd_test_field(request.getfixturevalue("bccd_dir"), int(request.param[-1]))


@pytest.mark.skipif(not SHIPPED, reason="no shipped weights in weights/manifest.json")
@pytest.mark.parametrize("model, scale", SHIPPED, ids=[f"{m}-x{s}" for m, s in SHIPPED])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bf16_stays_within_the_tolerance_of_fp32(backend, model, scale, hr_crop, one_torch_thread):
    method = _method_on(model, backend)
    assert method.backend == backend
    # Scale 1 is MicroGAN's same-size Gaussian-blur setting; every other scale is bicubic.
    degradation = Degradation("gaussian" if scale == 1 else "bicubic", scale)
    lr, hr = degradation.apply(hr_crop), modcrop(hr_crop, scale)
    if scale in method.bf16_misses_guard:
        # Declared outside the guard: auto must not pick bf16 for it, even where the CPU is faster in bf16.
        assert upscale(lr, method, scale, precision="auto").precision == "fp32"
        return
    exact = upscale(lr, method, scale, precision="fp32")
    reduced = upscale(lr, method, scale, precision="bf16")
    assert (exact.precision, reduced.precision) == ("fp32", "bf16")
    assert np.abs(reduced.image - exact.image).max() > 0  # bf16 really ran
    delta = psnr_y(reduced.image, hr, scale) - psnr_y(exact.image, hr, scale)
    assert abs(delta) <= TOLERANCE_DB, f"{model} x{scale} in {backend}: bf16 changes Y-PSNR by {delta:+.4f} dB"
