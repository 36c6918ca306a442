"""The package's public API (microsr_core/__init__.py): what it offers, and that importing it is light."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import microsr_core
from microsr_core.errors import MicroSRError, ParameterError
from microsr_core.imaging.io import load_image as imaging_load_image
from microsr_core.models.inference import upscale as models_upscale
from microsr_core.models.registry import method_names as models_method_names

ROOT = Path(__file__).resolve().parents[1]


def test_the_public_names_are_the_wings_functions():
    assert sorted(microsr_core.__all__) == ["MicroSRError", "load_image", "method_names", "save_image", "upscale"]
    assert microsr_core.load_image is imaging_load_image
    assert microsr_core.upscale is models_upscale and microsr_core.method_names is models_method_names
    assert microsr_core.MicroSRError is MicroSRError
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        microsr_core.nothing  # noqa: B018


def test_save_load_upscale_through_the_package(tmp_path, sample):
    from microsr_core import load_image, method_names, save_image, upscale

    save_image(tmp_path / "lr.png", sample[:64, :48])
    result = upscale(load_image(tmp_path / "lr.png").pixels, "bicubic", 2)
    assert result.image.shape == (128, 96, 3) and result.image.dtype == np.float32
    assert "bicubic" in method_names() and "vdsr" in method_names()
    with pytest.raises(MicroSRError):
        upscale(sample[:16, :16], "no_such_method", 2)
    assert issubclass(ParameterError, MicroSRError)


def test_importing_the_package_and_imaging_loads_neither_torch_nor_streamlit():
    """In a fresh interpreter: ``import microsr_core``, every imaging module, and the image functions
    read through the package leave torch and streamlit unimported."""
    imaging = sorted(path.stem for path in (ROOT / "microsr_core" / "imaging").glob("*.py") if path.stem != "__init__")
    code = ("import importlib, json, sys, microsr_core\n"
            f"for name in {imaging!r}: importlib.import_module('microsr_core.imaging.' + name)\n"
            "microsr_core.load_image, microsr_core.save_image\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'streamlit'})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert len(imaging) >= 11 and json.loads(proc.stdout) == []  # every imaging module, not none
