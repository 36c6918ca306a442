"""The worker: runs one job's trainer in its own process (``python -m microsr_core jobs worker ID``).

It calls the same ``TRAINERS[method].run`` as ``python -m microsr_core train``, with

- a progress callback that stores the step, the history rows and the last checkpoint;
- a heartbeat thread (its own database connection) that proves the process is alive even
  during a slow step or validation;
- a ``should_stop`` callback that reads the job's cancel flag after every step; under
  ``torchrun`` rank 0 reads it and broadcasts the answer, so every rank stops at the same step.

Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group first (NCCL on CUDA, gloo on
the CPU); only rank 0 writes to the job store and the output folder. At the end the ranks
compare checksums of their parameters, so a job whose replicas drifted apart fails loudly.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
import traceback
from pathlib import Path

from ..errors import MicroSRError
from .batch import BATCH
from .store import JobStore

#: Minimum seconds between progress writes (history rows and checkpoints are always written).
PROGRESS_INTERVAL = 0.25


class _Heartbeat(threading.Thread):
    def __init__(self, db_path: Path, job_id: int, interval: float):
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self.db_path, self.job_id, self.interval = db_path, job_id, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        store = JobStore(self.db_path)
        try:
            while not self.stopped.wait(self.interval):
                store.update(self.job_id, heartbeat=time.time())
        finally:
            store.close()


def _terminate(signum, frame):
    raise SystemExit(f"terminated by signal {signal.Signals(signum).name}")


def parameter_checksum(module) -> str:
    """sha256 over a module's parameters and buffers (bit-exact comparison between ranks)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_worker(job_id: int) -> int:
    """Run job ``job_id`` (claimed by :func:`~microsr_core.jobs.manager.schedule`); returns an exit status."""
    import torch.distributed as dist

    from ..train.loop import TrainingCancelled

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    signal.signal(signal.SIGTERM, _terminate)
    store = JobStore()
    job = store.get(job_id)
    if job.status != "running":
        print(f"job {job_id} is {job.status}, not claimed for running; nothing to do", flush=True)
        return 1
    if job.method == BATCH:
        return _run_batch(job, store)
    heartbeats: list[_Heartbeat] = []
    try:
        status, error = _outcome(job_id, lambda: _train(job, store, rank, world, heartbeats), TrainingCancelled)
    finally:
        for heartbeat in heartbeats:
            heartbeat.stopped.set()
            heartbeat.join()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        _finish(store, job_id, status, error)
    store.close()
    return EXIT_CODES[status]


#: The worker's exit status for each way a job ends.
EXIT_CODES = {"succeeded": 0, "failed": 1, "cancelled": 3}


def _outcome(job_id: int, work, cancelled: type[BaseException]) -> tuple[str, str | None]:
    """Run ``work()``; how the job ended (succeeded, cancelled when ``cancelled`` was raised, or
    failed, whatever else happened) and the error to record."""
    try:
        work()
        return "succeeded", None
    except cancelled as exc:
        print(f"job {job_id}: cancelled ({exc})", flush=True)
        return "cancelled", str(exc)
    except MicroSRError as exc:
        print(f"job {job_id}: error: {exc}", flush=True)
        return "failed", str(exc)
    except BaseException as exc:  # the job must end marked failed, whatever happened
        traceback.print_exc()
        return "failed", f"{type(exc).__name__}: {exc}"


def _train(job, store: JobStore, rank: int, world: int, heartbeats: list) -> None:
    """A training job's trainer with progress, cancel and (under torchrun) the process group;
    rank 0 starts the heartbeat (appended to ``heartbeats`` for the caller to stop)."""
    import torch
    import torch.distributed as dist

    from ..train import TRAINERS
    from .manager import HEARTBEAT_SECONDS, build_config

    job_id, main = job.id, rank == 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1:
        backend = "nccl" if job.device == "cuda" else "gloo"
        if job.device == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    trainer = TRAINERS[job.method]
    params = dict(job.params)
    if job.device == "cuda":
        params["device"] = f"cuda:{local_rank}"
    config = build_config(trainer, params)
    checkpoint = Path(job.out_dir) / "checkpoint.pt"
    resume = checkpoint if job.resume and checkpoint.is_file() else None
    if main:
        start_step = _sync_metrics_with_checkpoint(store, job_id, resume)
        store.update(job_id, worker_pid=os.getpid(), step=start_step, heartbeat=time.time())
        heartbeats.append(_Heartbeat(store.path, job_id, HEARTBEAT_SECONDS))
        heartbeats[-1].start()
        where = f"from checkpoint step {start_step}" if resume else "from scratch"
        print(f"job {job_id}: {job.method} on {job.dataset}, {job.total} steps, {job.device}, "
              f"{world} process(es), {where}", flush=True)
    last_write = [0.0]

    def progress(p) -> None:
        if not main:
            return
        now = time.time()
        if p.row is not None:
            store.add_metrics(job_id, p.row)
            values = " ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.row.items() if k != "step")
            print(f"step {p.step}/{p.total} {values}", flush=True)
        if p.checkpoint is not None:
            store.update(job_id, checkpoint=str(p.checkpoint), checkpoint_step=p.step)
        if p.row is not None or p.checkpoint is not None or p.step == p.total or now - last_write[0] >= PROGRESS_INTERVAL:
            store.update(job_id, step=p.step, heartbeat=now)
            last_write[0] = now

    def should_stop() -> bool:
        flag = store.cancel_requested(job_id) if main else False
        if world > 1:
            tensor = torch.tensor([int(flag)], device=f"cuda:{local_rank}" if job.device == "cuda" else "cpu")
            dist.broadcast(tensor, src=0)
            flag = bool(tensor.item())
        return flag

    result = trainer.run(
        config, resume=resume, progress=progress, should_stop=should_stop,
        is_main_process=main, log_every=job.log_every,
    )
    if world > 1:
        _check_ranks_in_sync(result.modules, rank, world)
    if main:
        _complete_card(job, world)


def _finish(store: JobStore, job_id: int, status: str, error: str | None) -> None:
    """Record how a job ended and start the next queued one (a slot is free)."""
    from .manager import schedule

    store.update(job_id, status=status, error=error if status == "failed" else None,
                 finished=time.time(), heartbeat=time.time(), cancel_requested=0)
    print(f"job {job_id}: {status}", flush=True)
    schedule(store)


def _run_batch(job, store: JobStore) -> int:
    """A batch job (:mod:`.batch`) in this process, with the heartbeat and the ending of a training job."""
    from .batch import BatchCancelled, run_batch_job
    from .manager import HEARTBEAT_SECONDS

    store.update(job.id, worker_pid=os.getpid(), step=0, heartbeat=time.time())
    print(f"job {job.id}: batch of {', '.join(job.params['methods'])} x{job.params['scale']} on {job.dataset}", flush=True)
    heartbeat = _Heartbeat(store.path, job.id, HEARTBEAT_SECONDS)
    heartbeat.start()
    try:
        status, error = _outcome(job.id, lambda: run_batch_job(job, store), BatchCancelled)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
    _finish(store, job.id, status, error)
    store.close()
    return EXIT_CODES[status]


def _sync_metrics_with_checkpoint(store: JobStore, job_id: int, checkpoint: Path | None) -> int:
    """Make the stored history equal the checkpoint's (the run continues from there); returns its step.

    Rows logged after the checkpoint are dropped (the resumed run logs them again); rows the
    checkpoint holds but the store missed (a kill between the checkpoint and its report) are
    added, so no metrics are lost or doubled.
    """
    if checkpoint is None:
        store.drop_metrics_after(job_id, 0)
        return 0
    from ..train.checkpoints import load_checkpoint

    state = load_checkpoint(checkpoint)
    step = int(state["step"])
    store.drop_metrics_after(job_id, step)
    for row in json.loads(state["history_json"]):
        store.add_metrics(job_id, row)
    store.update(job_id, checkpoint=str(checkpoint), checkpoint_step=step)
    return step


def _check_ranks_in_sync(modules: dict, rank: int, world: int) -> None:
    """Compare every rank's final weights bit for bit; replicas that drifted apart fail the job."""
    import torch.distributed as dist

    digest = hashlib.sha256("".join(parameter_checksum(m) for _, m in sorted(modules.items())).encode()).hexdigest()
    gathered: list[str | None] = [None] * world
    dist.all_gather_object(gathered, digest)
    print(f"[rank {rank}/{world}] parameter checksum sha256={digest}", flush=True)
    if len(set(gathered)) != 1:
        raise RuntimeError(f"data-parallel ranks drifted apart: parameter checksums {gathered}")


def _complete_card(job, world: int) -> None:
    """Add the job's provenance to the model card the trainer wrote."""
    card_path = Path(job.out_dir) / "card.json"
    card = json.loads(card_path.read_text())
    card.setdefault("training", {})["job"] = {
        "id": job.id,
        "dataset": job.dataset,
        "device": job.device,
        "processes": world,
        "command": f"python -m microsr_core jobs submit {job.method} --data {job.dataset} (job {job.id})",
    }
    partial = card_path.with_name("card.json.partial")
    partial.write_text(json.dumps(card, indent=2, default=str) + "\n")
    partial.replace(card_path)
