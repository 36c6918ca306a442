"""Recovery without training: which running jobs count as dead, and scheduling by device slots."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from microsr_core import jobs
from microsr_core.jobs.manager import process_alive


def _running_job(store, pid, heartbeat_age: float, host: str | None = None, **values) -> int:
    now = time.time()
    return store.insert(
        method="vdsr", dataset="tiny", data_dir="/nowhere", params={}, device="cpu", status="running",
        total=10, step=4, checkpoint_step=3, pid=pid, host=host or socket.gethostname(), slots="0",
        started=now - 100, heartbeat=now - heartbeat_age, **values,
    )


def _pretend_worker(job_id: int) -> subprocess.Popen:
    """A process whose command line looks like job ``job_id``'s worker (sleeps; no torch)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "worker", str(job_id)])


def test_recover_fails_jobs_whose_process_is_gone_and_heartbeat_stale(job_env):
    store = job_env.store
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone_stale = _running_job(store, dead.pid, heartbeat_age=120)
    gone_fresh = _running_job(store, dead.pid, heartbeat_age=1)
    alive = _running_job(store, None, heartbeat_age=120)
    worker = _pretend_worker(alive)
    store.update(alive, pid=worker.pid)
    reused = _running_job(store, worker.pid, heartbeat_age=120)  # same pid, but not its worker
    remote_stale = _running_job(store, None, heartbeat_age=10_000, host="elsewhere")
    remote_fresh = _running_job(store, None, heartbeat_age=1, host="elsewhere")
    never_launched = _running_job(store, None, heartbeat_age=3600)
    try:
        assert process_alive(worker.pid, alive) and not process_alive(worker.pid, reused)
        failed = jobs.recover(store, stale_after=30)
        assert sorted(failed) == sorted([gone_stale, reused, remote_stale, never_launched])
        assert "worker process" in store.get(gone_stale).error and "resume continues from step 3" in store.get(gone_stale).error
        assert "no heartbeat from host elsewhere" in store.get(remote_stale).error
        assert "never started" in store.get(never_launched).error
        for job_id in (gone_fresh, alive, remote_fresh):
            assert store.get(job_id).status == "running"
    finally:
        worker.kill()
        worker.wait()
    assert not process_alive(worker.pid, alive)


def test_a_zombie_child_counts_as_dead(job_env):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not yet reaped: a zombie
    assert not process_alive(child.pid)


def test_schedule_respects_device_slots_in_order(job_env, monkeypatch):
    store = job_env.store
    monkeypatch.setenv("MICROSR_JOB_SLOTS", "cpu=2")
    launched = []
    monkeypatch.setattr(jobs.manager, "_launch", lambda job, store: launched.append(job.id))
    worker_ids = []
    for nproc in (1, 2, 1):
        worker_ids.append(jobs.submit("vdsr", "tiny", {"steps": 5}, device="cpu", nproc=nproc, start=False).id)
    # Slot 0 goes to the first job; the two-process job does not fit, and the third waits behind it.
    assert jobs.schedule(store) == [worker_ids[0]]
    assert store.get(worker_ids[0]).slots == "0"
    store.update(worker_ids[0], status="succeeded")
    assert jobs.schedule(store) == [worker_ids[1]]
    assert store.get(worker_ids[1]).slots == "0,1"
    store.update(worker_ids[1], status="succeeded")
    assert jobs.schedule(store) == [worker_ids[2]] == launched[2:]
    # A job larger than the limit still runs once its device is idle.
    store.update(worker_ids[2], status="succeeded")
    big = jobs.submit("vdsr", "tiny", {"steps": 5}, device="cpu", nproc=3, start=False)
    assert jobs.schedule(store) == [big.id] and store.get(big.id).slots == "0,1,2"


def test_worker_commands(job_env):
    job = jobs.submit("vdsr", "tiny", {"steps": 5}, device="cpu", start=False)
    assert jobs.worker_command(job)[1:] == ["-m", "microsr_core", "jobs", "worker", str(job.id)]
    job.nproc = 4
    command = jobs.worker_command(job)
    assert command[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in command
    assert command[command.index("--nproc-per-node") + 1] == "4" and command[-5:] == ["-m", "microsr_core", "jobs", "worker", str(job.id)]
    job.nnodes, job.rdzv_endpoint = 2, "node0:29400"
    command = jobs.worker_command(job)
    assert "--standalone" not in command
    assert command[command.index("--nnodes") + 1] == "2"
    assert command[command.index("--rdzv-endpoint") + 1] == "node0:29400"
    assert command[command.index("--rdzv-backend") + 1] == "c10d"
    assert command[command.index("--rdzv-id") + 1] == f"microsr-job-{job.id}"


def test_resume_takes_the_history_from_the_checkpoint(job_env):
    """A kill between writing a checkpoint and reporting it: the store is behind the checkpoint."""
    import json

    import torch

    from microsr_core.jobs.worker import _sync_metrics_with_checkpoint

    store = job_env.store
    job_id = _running_job(store, None, heartbeat_age=0)
    for step in (1, 2, 3, 5, 6):  # 4 never reached the store; 5 and 6 came after the checkpoint
        store.add_metrics(job_id, {"step": step, "loss": float(step)})
    checkpoint = job_env.home / "checkpoint.pt"
    history = [{"step": s, "loss": float(s)} for s in (1, 2, 3, 4)]
    torch.save({"step": 4, "history_json": json.dumps(history)}, checkpoint)
    assert _sync_metrics_with_checkpoint(store, job_id, checkpoint) == 4
    assert store.metrics(job_id) == history
    assert store.get(job_id).checkpoint_step == 4
    assert _sync_metrics_with_checkpoint(store, job_id, None) == 0 and store.metrics(job_id) == []
