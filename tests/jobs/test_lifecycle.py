"""Jobs end to end on the CPU with real worker processes: success, SIGKILL + resume, cancel, queueing."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from microsr_core import jobs
from microsr_core.errors import ParameterError
from microsr_core.models.inference import upscale
from microsr_core.models.registry import method_names
from microsr_core.train.checkpoints import load_checkpoint

from .helpers import TINY, wait_for, wait_status


def test_one_slot_two_jobs_first_succeeds_with_all_artifacts_then_second_runs_and_is_cancelled(job_env):
    """Three requirements with two worker processes (each costs seconds of start-up): a job
    succeeds and leaves its files; with one slot the second job waits and starts when the first
    ends; cancel stops a running job within a step."""
    store = job_env.store
    params = {**TINY, "steps": 12, "checkpoint_every": 5, "validate_every": 6}
    first = jobs.submit("vdsr", "tiny", params, device="cpu", log_every=3)
    second = jobs.submit("vdsr", "tiny", {**TINY, "steps": 1_000_000, "checkpoint_every": 1000}, device="cpu", log_every=1)
    assert first.status == "running" and first.pid  # started at once: the CPU slot was free
    assert second.status == "queued" and jobs.schedule(store) == []  # no free slot
    first = wait_status(store, first.id)
    assert first.status == "succeeded", jobs.read_log(first, None)
    _check_artifacts(job_env, first)
    # The finishing worker started the queued job (no other process had to).
    second = wait_for(lambda: (j := store.get(second.id)).status != "queued" and j, what="the second job to start")
    assert second.status == "running" and second.started >= first.finished and second.slots == first.slots == "0"
    _check_cancel_within_a_step(store, second)
    _check_promote(job_env, first)


def _check_artifacts(job_env, job) -> None:
    assert (job.step, job.total, job.checkpoint_step, job.error) == (12, 12, 12, None)
    out = job_env.home / "jobs" / str(job.id)
    assert job.out_dir == str(out) and job.log_path == str(out / "worker.log")
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 12
    card = json.loads((out / "card.json").read_text())
    assert card["method"] == "vdsr" and card["training"]["steps"] == 12
    assert card["training"]["job"]["id"] == job.id and card["training"]["job"]["dataset"] == "tiny"
    assert json.loads((out / "config.json").read_text())["depth"] == 3
    assert (out / "model.safetensors").is_file()
    # The stored history is the trainer's own history.jsonl, row for row.
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    metrics = job_env.store.metrics(job.id)
    assert metrics == history
    assert [row["step"] for row in metrics] == [3, 6, 9, 12]
    assert [row["step"] for row in metrics if "val_psnr_y_x2" in row] == [6, 12]
    assert all(np.isfinite(row["loss"]) for row in metrics)
    log = jobs.read_log(job, None)
    assert "from scratch" in log and f"job {job.id}: succeeded" in log


def _check_cancel_within_a_step(store, job) -> None:
    wait_for(lambda: store.get(job.id).step >= 3, what="a few steps")
    requested = jobs.cancel(job.id)
    assert requested.status == "running" and requested.cancel_requested
    done = wait_status(store, job.id, timeout=30)
    assert done.status == "cancelled" and done.error is None and not done.cancel_requested
    # The worker checks the flag after every step: the step in flight when the request was
    # recorded finishes, the next one sees the flag. (The store's step lags that check by one
    # report, hence + 2.)
    assert requested.step < done.step <= requested.step + 2
    assert done.checkpoint_step == done.step  # it checkpointed before stopping
    assert load_checkpoint(done.checkpoint)["step"] == done.step
    assert "cancelled" in jobs.read_log(done)
    with pytest.raises(ParameterError, match="only queued or running"):
        jobs.cancel(job.id)


def _check_promote(job_env, job) -> None:
    """Promote: the model becomes a method and runs."""
    card = jobs.promote(job.id, "tiny-model")
    assert card["sha256"] and "vdsr@tiny-model" in method_names()
    assert card["lr_kind"] == "bicubic" and sorted(card["bf16_delta_db"]) == sorted(str(s) for s in card["scales"])  # measured at promotion
    lr = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    assert upscale(lr, "vdsr@tiny-model", 2, device="cpu").image.shape == (32, 32, 3)
    assert job_env.store.get(job.id).promoted == "tiny-model"
    with pytest.raises(ParameterError, match="exists already"):
        jobs.promote(job.id, "tiny-model")
    with pytest.raises(ParameterError, match="model name"):
        jobs.promote(job.id, "../escape")
    with pytest.raises(ParameterError, match="only a succeeded job"):
        jobs.promote(job.id + 1, "other")


def test_sigkilled_worker_is_detected_and_resume_continues_without_losing_metrics(job_env):
    params = {**TINY, "steps": 300, "checkpoint_every": 20, "validate_every": 50}
    job = jobs.submit("vdsr", "tiny", params, device="cpu", log_every=1)
    store = job_env.store
    # Kill it once a checkpoint exists and it has gone on past it.
    running = wait_for(lambda: (j := store.get(job.id)).checkpoint_step and j.step > j.checkpoint_step and j,
                       what="a checkpoint and a few more steps")
    assert running.status == "running" and jobs.manager.process_alive(running.pid, job.id)  # our worker
    os.kill(running.pid, signal.SIGKILL)
    wait_for(lambda: not jobs.manager.process_alive(running.pid, job.id), what="the worker to die")
    killed = store.get(job.id)
    assert killed.status == "running"  # nobody told the store
    # A fresh heartbeat protects it for a while; once stale, recovery marks it failed.
    assert jobs.recover(store, stale_after=60) == []
    assert jobs.recover(store, stale_after=0) == [job.id]
    failed = store.get(job.id)
    assert failed.status == "failed" and "is gone" in failed.error and f"step {failed.checkpoint_step}" in failed.error
    saved = failed.checkpoint_step
    assert saved % 20 == 0 and killed.step > saved
    before = {row["step"]: row for row in store.metrics(job.id) if row["step"] <= saved}

    resumed = jobs.resume(job.id)
    assert resumed.status == "running" and resumed.resume == 1 and resumed.attempts == 2
    done = wait_status(store, job.id)
    assert done.status == "succeeded", jobs.read_log(done, None)
    assert done.step == done.total == 300

    metrics = store.metrics(job.id)
    assert [row["step"] for row in metrics] == list(range(1, 301))  # none lost, none twice
    assert all(metrics[step - 1] == row for step, row in before.items())  # rows up to the checkpoint kept
    history = [json.loads(line) for line in (Path(done.out_dir) / "history.jsonl").read_text().splitlines()]
    assert history == metrics
    log = jobs.read_log(done, None)
    assert f"from checkpoint step {saved}" in log
    # The second attempt's first logged step is the one after the checkpoint.
    second = log.split("attempt 2:")[1]
    assert re.search(r"^step (\d+)/300", second, re.M).group(1) == str(saved + 1)
    assert load_checkpoint(Path(done.out_dir) / "checkpoint.pt")["step"] == 300


def test_a_queued_job_is_cancelled_at_once_and_can_be_requeued(job_env):
    store = job_env.store
    queued = jobs.submit("vdsr", "tiny", {**TINY, "steps": 5}, device="cpu", start=False)
    assert queued.status == "queued" and queued.pid is None
    cancelled = jobs.cancel(queued.id)
    assert cancelled.status == "cancelled" and cancelled.finished
    requeued = jobs.resume(queued.id, start=False)
    assert requeued.status == "queued" and requeued.resume == 0  # no checkpoint: starts from scratch
    with pytest.raises(ParameterError, match="only failed or cancelled"):
        jobs.resume(queued.id)
    with pytest.raises(ParameterError, match="no job 999"):
        jobs.cancel(999)
