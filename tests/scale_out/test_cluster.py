"""The Dask client: torch threads set once per worker process, one model per process and weights
sha256, and weights that changed since the run started refused."""

from __future__ import annotations

import pytest

from microsr_core.errors import WeightsError
from microsr_core.models.serving import served
from microsr_core.scale_out.cluster import worker_method


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def test_every_worker_runs_torch_on_the_threads_it_was_given(client):
    from microsr_core.scale_out.cluster import open_client

    assert set(client.run(_torch_threads).values()) == {1}
    # Dask starts workers with OMP_NUM_THREADS=1: two threads only come from the worker plugin.
    with open_client(workers=1, threads=2, memory_limit="1GiB") as two:
        assert list(two.run(_torch_threads).values()) == [2]


def test_one_model_per_process_and_weights_checked_by_sha256():
    sha = served("vdsr", 2).sha256
    first = worker_method("vdsr", 2, "bicubic", sha)
    assert worker_method("vdsr", 2, "bicubic", sha) is first  # loaded once, whatever the number of tasks
    with pytest.raises(WeightsError, match="republished"):
        worker_method("vdsr", 2, "bicubic", "0" * 64)
