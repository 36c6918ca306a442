"""Helpers for job tests: a tiny real dataset, tiny training parameters, waiting, cleanup."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Callable

import numpy as np

from microsr_core.imaging.data import split_of
from microsr_core.imaging.io import save_image

#: A VDSR small enough for a CPU shared with other work: a few milliseconds per step.
TINY = {
    "scales": [2], "batch": 2, "patch": 24, "stride": 12, "depth": 3, "channels": 8,
    "val_crop": 48, "val_images": 1, "threads": 1,
}


def make_dataset(folder: Path, pixels: np.ndarray, train: int = 5, size: int = 64) -> Path:
    """``train`` + 1 crops of a real micrograph as PNGs in ``folder``, one of them in the
    held-out split of :func:`microsr_core.imaging.data.split` (names are picked so that it is)."""
    folder.mkdir(parents=True, exist_ok=True)
    names, index = {"train": [], "val": []}, 0
    while len(names["train"]) < train or not names["val"]:
        name = f"crop_{index:03d}.png"
        index += 1
        kind = split_of(Path(name))
        if kind == "test" or kind == "val" and names["val"] or kind == "train" and len(names["train"]) >= train:
            continue
        names[kind].append(name)
    for k, name in enumerate(names["train"] + names["val"]):
        top, left = (97 * k) % (pixels.shape[0] - size), (181 * k) % (pixels.shape[1] - size)
        save_image(folder / name, pixels[top : top + size, left : left + size])
    return folder


def wait_for(condition: Callable[[], object], timeout: float = 90.0, what: str = "condition", poll: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_status(store, job_id: int, statuses=("succeeded", "failed", "cancelled"), timeout: float = 90.0):
    """Wait until job ``job_id`` has one of ``statuses``; returns the job."""
    job = wait_for(lambda: (j := store.get(job_id)).status in statuses and j, timeout, f"job {job_id} in {statuses}")
    return job


def kill_workers(store) -> None:
    """SIGKILL the workers this test started that still run, with their children.

    Only a pid that is verifiably one of the store's workers on this host and leads its own
    process group is signalled: ``killpg`` of a small or foreign pid would reach unrelated
    processes (``killpg(1, …)`` is ``kill(-1, …)``: every process).
    """
    from microsr_core.jobs.manager import process_alive

    for job in store.list("running"):
        pid = job.pid
        if not pid or pid <= 1 or job.host != socket.gethostname() or not process_alive(pid, job.id):
            continue
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
