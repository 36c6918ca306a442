"""Submitting, scheduling, launching, recovering, cancelling, resuming and promoting jobs.

Life of a job::

    submit ──> queued ──schedule()──> running ──> succeeded ──promote()──> method "vdsr@<name>"
                 ^                      │  ├───> cancelled   (cancel(): within one step, after a checkpoint)
                 └──────resume()────────┘  └───> failed      (an error, or recover(): the process is gone)

- :func:`submit` validates everything (method, parameters, dataset, masks, device, processes)
  before the job is stored, so a bad request never starts a process.
- :func:`schedule` starts queued jobs while their device has free slots (per-device limits,
  :func:`slot_limit`); it runs after every submit, in every ``jobs`` command, on every Train
  page load, and in a worker that finishes, so queued jobs start as soon as a slot frees.
- Workers are detached processes (their own session, output to the job's log), so the
  Streamlit process can rerun, restart or exit without touching them. A job with several
  processes or nodes runs through ``torchrun`` (:func:`worker_command`).
- :func:`recover` marks a running job failed when its process is gone and its heartbeat is
  stale; :func:`resume` requeues a failed or cancelled job to continue from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..train.configs import coerce_params
from ..errors import ParameterError
from ..paths import PROJECT_ROOT, home_dir, promoted_models_dir
from .datasets import inspect_dataset
from .store import Job, JobStore

#: Seconds between a worker's heartbeats (written by a thread, so slow steps do not matter).
HEARTBEAT_SECONDS = 5.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _store(store: JobStore | None) -> JobStore:
    return store if store is not None else JobStore()


def jobs_dir() -> Path:
    """Parent of every job's folder (``<home>/jobs/<id>``: training outputs and ``worker.log``)."""
    return home_dir() / "jobs"


def stale_seconds() -> float:
    """How old a heartbeat must be before a job whose process is gone counts as dead."""
    return float(os.environ.get("MICROSR_JOB_STALE_SECONDS", 3 * HEARTBEAT_SECONDS))


def slot_limit(device: str) -> int:
    """Concurrent worker processes allowed on ``device`` (``cpu`` or ``cuda``).

    ``$MICROSR_JOB_SLOTS`` (for example ``cpu=1,cuda=4``) overrides the defaults: one CPU
    process at a time (a training job uses every core), one process per visible GPU.
    """
    for item in os.environ.get("MICROSR_JOB_SLOTS", "").split(","):
        name, _, value = item.partition("=")
        if name.strip() == device:
            try:
                return max(1, int(value))
            except ValueError:
                raise ParameterError(f"MICROSR_JOB_SLOTS: expected DEVICE=N items, got '{item}'") from None
    if device == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    return 1


def _visible_gpus(slots: list[int]) -> str:
    """CUDA_VISIBLE_DEVICES for a worker given GPU slots (indices into the app's visible GPUs)."""
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return ",".join(visible[i] if i < len(visible) else str(i) for i in slots)


# -- parameters --------------------------------------------------------------------------------


def build_config(trainer, params: dict[str, Any]):
    """The trainer's config object from stored ``params`` (its checks raise ParameterError)."""
    try:
        return trainer.config_cls(**coerce_params(trainer.config_cls, params))
    except TypeError as exc:  # a required field is missing
        raise ParameterError(f"incomplete parameters: {exc}") from None


# -- submit ------------------------------------------------------------------------------------


def submit(
    method: str,
    dataset: str,
    params: dict[str, Any] | None = None,
    *,
    device: str = "auto",
    nproc: int = 1,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    log_every: int = 10,
    start: bool = True,
    store: JobStore | None = None,
) -> Job:
    """Validate a training request, store it as a queued job and (with ``start``) schedule it.

    Parameters
    ----------
    method : str
        A key of :data:`microsr_core.train.TRAINERS` (``"vdsr"``).
    dataset : str
        A folder under the data root, or ``"upload:<folder>"`` from :func:`unpack_zip`.
    params : dict
        Fields of the trainer's config (``steps``, ``batch``, ``lr``, ``scales`` …); the data
        and output folders are set by the job.
    device : {"auto", "cpu", "cuda"}
    nproc, nnodes : int
        Data-parallel processes per node and nodes; more than one runs through ``torchrun``.
    rdzv_endpoint : str
        ``host:port`` of the rendezvous, required when ``nnodes > 1``.
    log_every : int
        Steps between the history rows (losses averaged over them).

    Raises
    ------
    ParameterError
        Unknown method or parameter, a bad value (zero or negative steps …), a dataset outside
        the data root, without images or without the masks the method needs, a device that is
        not available. Nothing is stored then.
    """
    from ..models.device import resolve_device
    from ..train import TRAINERS

    if method not in TRAINERS:
        raise ParameterError(f"unknown method '{method}' (trainable: {', '.join(TRAINERS)})")
    trainer = TRAINERS[method]
    params = dict(params or {})
    reserved = {"data", "out", "device"} | ({trainer.masks_field} if trainer.masks_field else set())
    clash = sorted(reserved & set(params))
    if clash:
        raise ParameterError(f"parameter '{clash[0]}' is set by the job itself (choose the dataset or device instead)")
    for name, value in (("nproc", nproc), ("nnodes", nnodes), ("log_every", log_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    if nnodes > 1 and not rdzv_endpoint:
        raise ParameterError("a job on several nodes needs rdzv_endpoint (host:port of node 0)")
    chosen = resolve_device(device)
    device_kind = chosen.type
    if device_kind == "cuda" and nproc > 1:
        import torch

        if nproc > torch.cuda.device_count():
            raise ParameterError(f"nproc {nproc} exceeds the {torch.cuda.device_count()} visible GPU(s)")
    data = inspect_dataset(dataset, needs_masks=trainer.needs_masks)
    for key in trainer.path_fields:
        if params.get(key):
            params[key] = str(inspect_dataset(params[key]).images)
    values = {**params, "data": str(data.images), "out": "", "device": device_kind}
    if trainer.masks_field:
        values[trainer.masks_field] = str(data.masks)
    config = build_config(trainer, values)
    if getattr(config, "steps", 1) <= 0:  # trainers whose config does not check it
        raise ParameterError(f"steps must be positive, got {config.steps}")
    if trainer.check is not None:
        trainer.check(config)
    return queue(_store(store), start, method=method, dataset=data.label, data_dir=str(data.images),
                 mask_dir=str(data.masks) if data.masks else None, params=dataclasses.asdict(config), device=device_kind,
                 nproc=nproc, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint, log_every=log_every,
                 total=int(getattr(config, "steps", 0)))


def queue(store: JobStore, start: bool, **columns: Any) -> Job:
    """Store a validated job as queued with its own folder (``params["out"]`` names it) and, with
    ``start``, schedule it: what every kind of job (training, batch) does after its checks."""
    params = dict(columns.pop("params"))
    with store.transaction():
        job_id = store.insert(**columns, params=params, status="queued")
        folder = jobs_dir() / str(job_id)
        params["out"] = str(folder)
        store.update(job_id, params=params, out_dir=str(folder), log_path=str(folder / "worker.log"))
    folder.mkdir(parents=True, exist_ok=True)
    if start:
        schedule(store)
    return store.get(job_id)


# -- launching ---------------------------------------------------------------------------------


def worker_command(job: Job) -> list[str]:
    """The command that runs ``job``: one Python process, or ``torchrun`` for data parallelism.

    Several nodes: run the same command on every node (they meet at ``rdzv_endpoint``; the
    job folder and the data must be on a filesystem they share).
    """
    worker = ["-m", "microsr_core", "jobs", "worker", str(job.id)]
    if job.nproc == 1 and job.nnodes == 1:
        return [sys.executable, *worker]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(job.nproc), "--nnodes", str(job.nnodes)]
    if job.nnodes == 1:
        command.append("--standalone")  # rendezvous on a free local port
    else:
        command += ["--rdzv-backend", "c10d", "--rdzv-endpoint", str(job.rdzv_endpoint), "--rdzv-id", f"microsr-job-{job.id}"]
    return [*command, "--max-restarts", "0", *worker]


def _launch(job: Job, store: JobStore) -> None:
    """Start the detached worker of a job that :func:`schedule` has claimed."""
    log_path = Path(job.log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env["MICROSR_HOME"] = str(home_dir())
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    if job.device == "cuda":
        env["CUDA_VISIBLE_DEVICES"] = _visible_gpus(job.slot_list)
    command = worker_command(job)
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {job.attempts}: {shlex.join(command)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the app; no signals from its terminal
                close_fds=True,
            )
        except OSError as exc:
            store.update(job.id, status="failed", finished=time.time(), error=f"cannot start the worker: {exc}")
            return
    store.update(job.id, pid=process.pid)


def schedule(store: JobStore | None = None) -> list[int]:
    """Start queued jobs, oldest first, while their device has free slots; returns the ids started.

    A job takes ``nproc`` numbered slots of its device (on ``cuda`` the slot numbers are the
    GPUs it sees); a job larger than the limit runs when its device is otherwise idle. Jobs on
    one device start in order, so a large job is not overtaken by later small ones.
    """
    store = _store(store)
    if not store.list("queued"):
        return []
    claimed: list[Job] = []
    now = time.time()
    with store.transaction():
        taken: dict[str, set[int]] = {}
        for job in store.list("running"):
            taken.setdefault(job.device, set()).update(job.slot_list)
        limits: dict[str, int] = {}
        blocked: set[str] = set()
        for job in sorted(store.list("queued"), key=lambda j: j.id):
            if job.device in blocked:
                continue
            busy = taken.setdefault(job.device, set())
            limit = limits.setdefault(job.device, slot_limit(job.device))
            free = [i for i in range(max(limit, job.nproc) if not busy else limit) if i not in busy]
            if len(free) < job.nproc:
                blocked.add(job.device)
                continue
            slots = free[: job.nproc]
            busy.update(slots)
            store.update(
                job.id, status="running", host=socket.gethostname(), pid=None, worker_pid=None,
                slots=",".join(map(str, slots)), started=now, heartbeat=now, finished=None, error=None,
                attempts=job.attempts + 1,
            )
            claimed.append(store.get(job.id))
    for job in claimed:
        _launch(job, store)
    return [job.id for job in claimed]


# -- processes and recovery --------------------------------------------------------------------


def process_alive(pid: int | None, job_id: int | None = None) -> bool:
    """Whether process ``pid`` runs (not a zombie); with ``job_id``, also that it is that job's worker."""
    if not pid or pid <= 1:  # 0 and negative numbers name process groups, 1 is init
        return False
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when it is our own exited child
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if proc.joinpath("stat").read_text().rpartition(")")[2].split()[0] == "Z":
                return False
            if job_id is not None:
                # After a reboot the pid may belong to another program.
                argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
                return b"worker" in argv and str(job_id).encode() in argv
        except (OSError, IndexError):
            return False
    return True


def recover(store: JobStore | None = None, stale_after: float | None = None) -> list[int]:
    """Mark running jobs failed whose process is gone and whose heartbeat is older than ``stale_after``.

    Jobs on another host (several nodes) are judged by their heartbeat alone (four times the
    threshold). Returns the ids marked failed. Run on app start and by every ``jobs`` command.
    """
    store = _store(store)
    stale = stale_seconds() if stale_after is None else stale_after
    host = socket.gethostname()
    now = time.time()
    failed = []
    for job in store.list("running"):
        age = now - (job.heartbeat or job.started or job.created)
        if job.host == host:
            gone = job.pid is not None and not process_alive(job.pid, job.id)
            unstarted = job.pid is None and age > max(stale, 60.0)  # claimed, never launched
            if not ((gone and age >= stale) or unstarted):
                continue
            reason = f"worker process {job.pid} is gone" if job.pid else "the worker never started"
        elif age > 4 * stale:
            reason = f"no heartbeat from host {job.host}"
        else:
            continue
        checkpoint = f"; resume continues from step {job.checkpoint_step}" if job.checkpoint_step else ""
        with store.transaction():
            if store.get(job.id).status != "running":
                continue
            store.update(
                job.id, status="failed", finished=now,
                error=f"{reason} (last heartbeat {age:.0f} s ago at step {job.step}){checkpoint}",
            )
        failed.append(job.id)
    return failed


def refresh(store: JobStore | None = None) -> None:
    """Recover dead jobs, then start queued ones (what the app and every command do first)."""
    store = _store(store)
    recover(store)
    schedule(store)


# -- user actions ------------------------------------------------------------------------------


def cancel(job_id: int, store: JobStore | None = None) -> Job:
    """Cancel a job: a queued one at once; a running one stops after its current step.

    Returns the job as it was when the request was recorded (its ``step`` is the last step
    the worker had reported then).
    """
    store = _store(store)
    with store.transaction():
        job = store.get(job_id)
        if job.status == "queued":
            store.update(job_id, status="cancelled", finished=time.time())
        elif job.status == "running":
            store.update(job_id, cancel_requested=1)
        else:
            raise ParameterError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")
        return store.get(job_id)


def resume(job_id: int, store: JobStore | None = None, start: bool = True) -> Job:
    """Requeue a failed or cancelled job; it continues from its last checkpoint (or starts over)."""
    store = _store(store)
    with store.transaction():
        job = store.get(job_id)
        if job.status not in ("failed", "cancelled"):
            raise ParameterError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be resumed")
        has_checkpoint = bool(job.checkpoint) and Path(job.checkpoint).is_file()
        store.update(job_id, status="queued", cancel_requested=0, resume=int(has_checkpoint), error=None, finished=None)
    if start:
        schedule(store)
    return store.get(job_id)


def promote(job_id: int, name: str, *, replace: bool = False, store: JobStore | None = None) -> dict[str, Any]:
    """Publish a succeeded job's model into the promoted models; it becomes method ``<method>@<name>``.

    Returns the model card as published (with the weights' file name and sha256, and bf16
    measured against fp32 at each scale, :func:`~microsr_core.models.bf16_gate.record_bf16`).
    """
    from ..models.bf16_gate import record_bf16
    from ..models.weights import publish, read_manifest

    store = _store(store)
    job = store.get(job_id)
    if job.status != "succeeded":
        raise ParameterError(f"job {job_id} is {job.status}; only a succeeded job can be promoted")
    if not _NAME.match(name or ""):
        raise ParameterError(f"model name '{name}': use letters, digits, '_', '-' or '.' (at most 64)")
    folder = promoted_models_dir()
    if name in read_manifest(folder) and not replace:
        raise ParameterError(f"a promoted model named '{name}' exists already (choose another name)")
    card = publish(Path(job.out_dir), name, folder=folder)
    card = record_bf16(f"{card['method']}@{name}", name, folder)
    store.update(job_id, promoted=name)
    return card


def read_log(job: Job, tail: int | None = 50) -> str:
    """The last ``tail`` lines of a job's log (all with None)."""
    path = Path(job.log_path)
    if not path.is_file():
        return ""
    with open(path, "rb") as handle:
        if tail is not None:
            handle.seek(max(0, path.stat().st_size - 2000 * tail))
        text = handle.read().decode("utf-8", errors="replace")
    lines = text.splitlines()
    return "\n".join(lines[-tail:] if tail is not None else lines)


def list_jobs(store: JobStore | None = None, limit: int | None = None) -> list[Job]:
    return _store(store).list(limit=limit)


def get_job(job_id: int, store: JobStore | None = None) -> Job:
    return _store(store).get(job_id)


def job_metrics(job_id: int, store: JobStore | None = None) -> list[dict[str, Any]]:
    return _store(store).metrics(job_id)


