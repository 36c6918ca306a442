"""One real Dask LocalCluster for the scale-out tests: two worker processes of one thread each."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from microsr_core.imaging.io import sample_image, save_image


@pytest.fixture(scope="session")
def client(tmp_path_factory):
    """A client of a LocalCluster (2 processes × 1 thread, 1 GiB each). The workers are spawned
    with the test settings in their environment: a private MicroSR home, networks in PyTorch
    (no OpenVINO export in every worker)."""
    from microsr_core.scale_out.cluster import open_client

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MICROSR_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setenv("MICROSR_CPU_BACKEND", "pytorch")
        with open_client(workers=2, threads=1, memory_limit="1GiB") as connected:
            yield connected


def kill_busy_worker(client) -> int:
    """SIGKILL the process of a worker that is running a task now; returns its pid."""
    processing = client.processing()
    address = next(addr for addr, keys in sorted(processing.items(), key=lambda item: -len(item[1])) if keys)
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    return pid


def lr_fields(folder: Path, count: int, size: tuple[int, int] = (40, 56)) -> list[Path]:
    """``count`` small LR crops of the built-in sample (different places), as PNG in ``folder``."""
    image = sample_image()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        top, left = (index * 37) % (image.shape[0] - size[0]), (index * 53) % (image.shape[1] - size[1])
        paths.append(save_image(folder / f"field_{index:02d}.png", image[top : top + size[0], left : left + size[1]]))
    return paths


def loaded(path: Path) -> np.ndarray:
    from microsr_core.imaging.io import load_image

    return load_image(path).pixels
