"""Fixtures of the job tests: private home and data root, a tiny real dataset, worker cleanup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from microsr_core.jobs import JobStore

from .helpers import kill_workers, make_dataset


@dataclass
class JobEnv:
    home: Path
    data: Path
    store: JobStore


@pytest.fixture
def job_env(tmp_path, monkeypatch, sample) -> JobEnv:
    """MICROSR_HOME and MICROSR_DATA_ROOT in ``tmp_path`` (inherited by the workers), one CPU
    slot, and ``data/tiny/images``: six 64×64 crops of the sample micrograph."""
    home, data = tmp_path / "home", tmp_path / "data"
    monkeypatch.setenv("MICROSR_HOME", str(home))
    monkeypatch.setenv("MICROSR_DATA_ROOT", str(data))
    monkeypatch.setenv("MICROSR_JOB_SLOTS", "cpu=1")
    monkeypatch.setenv("MICROSR_JOB_STALE_SECONDS", "15")
    make_dataset(data / "tiny" / "images", sample)
    store = JobStore()
    yield JobEnv(home, data, store)
    kill_workers(store)
    store.close()
