"""Scale-out: a two-process data-parallel job (torchrun, gloo on the CPU) trains with its ranks in sync."""

from __future__ import annotations

import json
import re
from pathlib import Path

from microsr_core import jobs

from .helpers import TINY, wait_status


def test_two_process_gloo_torchrun_job_trains_with_ranks_in_sync(job_env, monkeypatch):
    monkeypatch.setenv("MICROSR_JOB_SLOTS", "cpu=2")
    job = jobs.submit("vdsr", "tiny", {**TINY, "steps": 6, "validate_every": 3, "checkpoint_every": 3}, device="cpu", nproc=2, log_every=2)
    assert job.slots == "0,1"
    job = wait_status(job_env.store, job.id, timeout=150)
    log = jobs.read_log(job, None)
    assert job.status == "succeeded", log
    assert "torch.distributed.run --nproc-per-node 2" in log and "2 process(es)" in log
    # Both ranks report the checksum of their final parameters: identical, bit for bit.
    checksums = dict(re.findall(r"\[rank (\d)/2\] parameter checksum sha256=([0-9a-f]{64})", log))
    assert set(checksums) == {"0", "1"} and checksums["0"] == checksums["1"]
    # Only rank 0 wrote: one history row per logged step, one card.
    metrics = job_env.store.metrics(job.id)
    assert [row["step"] for row in metrics] == [2, 3, 4, 6]
    assert [row["step"] for row in metrics if "val_psnr_y_x2" in row] == [3, 6]
    card = json.loads((Path(job.out_dir) / "card.json").read_text())
    assert "2 data-parallel processes" in card["training"]["device"] and card["training"]["job"]["processes"] == 2
