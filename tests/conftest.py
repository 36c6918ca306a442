"""Shared fixtures: small real images, the optional ../shared data, a private weights folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BCCD = SHARED / "data" / "bccd"
WBC = SHARED / "data" / "wbc_seg"


@pytest.fixture(scope="session")
def sample() -> np.ndarray:
    """The built-in sample micrograph (512×512 RGB float32)."""
    from microsr_core.imaging.io import sample_image

    return sample_image()


@pytest.fixture
def bccd_dir() -> Path:
    if not (BCCD / "images").is_dir():
        pytest.skip(f"{BCCD} is absent (../shared data not available)")
    return BCCD


@pytest.fixture
def wbc_dir() -> Path:
    if not (WBC / "dataset2" / "images").is_dir():
        pytest.skip(f"{WBC} is absent (../shared data not available)")
    return WBC


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread: tiny networks are slower with more, and results repeat."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def microsr_home(tmp_path, monkeypatch) -> Path:
    """A private MicroSR home folder for the test."""
    home = tmp_path / "home"
    monkeypatch.setenv("MICROSR_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def pytorch_backend_by_default(monkeypatch):
    """Networks run in PyTorch unless a test asks for another CPU backend: exporting every random
    test network to OpenVINO would cost seconds each and fill the cache in the MicroSR home."""
    monkeypatch.setenv("MICROSR_CPU_BACKEND", "pytorch")
