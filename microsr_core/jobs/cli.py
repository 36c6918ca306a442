"""``python -m microsr_core jobs submit|list|show|cancel|resume|logs|promote`` (and ``worker``).

Every command except ``worker`` first recovers dead jobs and starts queued ones
(:func:`~microsr_core.jobs.manager.refresh`).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path


def add_jobs_parser(sub) -> None:
    """Add the ``jobs`` command to the top-level subparsers ``sub`` of :mod:`microsr_core.cli`."""
    from ..train.configs import add_config_flags
    from ..models.choices import DEVICE_CHOICES
    from ..train import TRAINERS

    p = sub.add_parser("jobs", help="background training jobs (submit, list, show, cancel, resume, logs, promote)")
    jobs = p.add_subparsers(dest="jobs_command", required=True)

    p = jobs.add_parser("submit", help="queue a training job (starts when its device has a free slot)")
    methods = p.add_subparsers(dest="method", required=True)
    for name, trainer in TRAINERS.items():
        tp = methods.add_parser(name, help=trainer.help)
        source = tp.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", help="dataset folder under the data root ($MICROSR_DATA_ROOT)")
        source.add_argument("--zip", help="ZIP of images (masks in masks/) to unpack and train on")
        tp.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
        tp.add_argument("--nproc", type=int, default=1, help="data-parallel processes per node (torchrun when > 1)")
        tp.add_argument("--nnodes", type=int, default=1, help="nodes (run the command `jobs show` prints on each)")
        tp.add_argument("--rdzv-endpoint", default=None, help="host:port of the rendezvous when --nnodes > 1")
        tp.add_argument("--log-every", type=int, default=10, help="steps per history row (default 10)")
        tp.add_argument("--no-start", action="store_true", help="queue only; the next jobs command starts it")
        skip = ("data", "out", "device", trainer.masks_field)
        add_config_flags(tp, trainer.config_cls, skip=skip)
        tp.set_defaults(func=_cmd_submit, config_fields=[f.name for f in dataclasses.fields(trainer.config_cls) if f.name not in skip])

    p = jobs.add_parser("list", help="jobs, newest first")
    p.add_argument("--status", default=None, choices=("queued", "running", "succeeded", "failed", "cancelled"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_cmd_list)

    p = jobs.add_parser("show", help="one job: parameters, state, latest metrics")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="the record and its metrics history as JSON")
    p.set_defaults(func=_cmd_show)

    for name, help_text in (
        ("cancel", "cancel a queued job, or stop a running one after its current step"),
        ("resume", "requeue a failed or cancelled job; it continues from its last checkpoint"),
    ):
        p = jobs.add_parser(name, help=help_text)
        p.add_argument("id", type=int)
        p.set_defaults(func=_cmd_action, action=name)

    p = jobs.add_parser("logs", help="a job's log")
    p.add_argument("id", type=int)
    p.add_argument("--tail", type=int, default=50, help="last N lines (0: all)")
    p.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    p.set_defaults(func=_cmd_logs)

    p = jobs.add_parser("promote", help="publish a succeeded job's model as method <method>@NAME")
    p.add_argument("id", type=int)
    p.add_argument("name")
    p.add_argument("--replace", action="store_true", help="overwrite a promoted model of that name")
    p.set_defaults(func=_cmd_promote)

    p = jobs.add_parser("worker", help="(internal) run a claimed job in this process")
    p.add_argument("id", type=int)
    p.set_defaults(func=_cmd_worker)


def _cmd_submit(args) -> int:
    from ..uploads import unpack_zip
    from .manager import refresh, submit

    refresh()
    dataset = args.data if args.data is not None else unpack_zip(args.zip, Path(args.zip).name)
    params = {name: getattr(args, name) for name in args.config_fields}
    job = submit(
        args.method, dataset, params, device=args.device, nproc=args.nproc, nnodes=args.nnodes,
        rdzv_endpoint=args.rdzv_endpoint, log_every=args.log_every, start=not args.no_start,
    )
    print(f"{job.describe()}; log: {job.log_path}")
    return 0


def _progress_text(job) -> str:
    return f"{job.step}/{job.total} ({100 * job.fraction:.0f} %)"


def _cmd_list(args) -> int:
    from .manager import refresh
    from .store import JobStore

    refresh()
    rows = JobStore().list(args.status, limit=args.limit)
    if not rows:
        print("no jobs")
        return 0
    print(f"{'id':>4}  {'status':<9}  {'progress':<18}  {'method':<6}  {'device':<11}  {'created':<16}  dataset")
    for job in rows:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created))
        device = job.device + (f" x{job.processes}" if job.processes > 1 else "")
        line = f"{job.id:>4}  {job.status:<9}  {_progress_text(job):<18}  {job.method:<6}  {device:<11}  {created:<16}  {job.dataset}"
        if job.status == "failed" and job.error:
            line += f"  [{job.error[:60]}]"
        print(line)
    return 0


def _cmd_show(args) -> int:
    from .manager import refresh, worker_command
    from .store import JobStore

    refresh()
    store = JobStore()
    job = store.get(args.id)
    metrics = store.metrics(args.id)
    if args.json:
        print(json.dumps({"job": dataclasses.asdict(job), "metrics": metrics}, indent=2))
        return 0
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"  # noqa: E731
    print(job.describe())
    for key, value in (
        ("dataset", f"{job.dataset} ({job.data_dir})"),
        ("device", f"{job.device}, {job.nproc} process(es) x {job.nnodes} node(s), slots {job.slots or '-'}"),
        ("progress", _progress_text(job)),
        ("created / started / finished", f"{stamp(job.created)} / {stamp(job.started)} / {stamp(job.finished)}"),
        ("process", f"pid {job.pid} on {job.host}, heartbeat {stamp(job.heartbeat)}, attempt {job.attempts}"),
        ("checkpoint", f"{job.checkpoint} (step {job.checkpoint_step})" if job.checkpoint else "-"),
        ("output", job.out_dir),
        ("log", job.log_path),
        ("error", job.error or "-"),
        ("promoted", f"{job.method}@{job.promoted}" if job.promoted else "-"),
        ("parameters", json.dumps({k: v for k, v in job.params.items() if k not in ("data", "out")})),
    ):
        print(f"  {key}: {value}")
    if job.nnodes > 1:
        print(f"  run on every node: {shlex.join(worker_command(job))}")
    if metrics:
        print("  latest metrics: " + json.dumps(metrics[-1]))
    return 0


def _cmd_action(args) -> int:
    from .manager import cancel, refresh, resume

    refresh()
    job = (cancel if args.action == "cancel" else resume)(args.id)
    note = " (stops after the current step)" if job.status == "running" and job.cancel_requested else ""
    print(job.describe() + note)
    return 0


def _cmd_logs(args) -> int:
    from .manager import read_log, refresh
    from .store import JobStore

    refresh()
    store = JobStore()
    job = store.get(args.id)
    text = read_log(job, tail=args.tail or None)
    if text:
        print(text)
    if args.follow:
        path = Path(job.log_path)
        offset = path.stat().st_size if path.is_file() else 0
        while True:
            if path.is_file() and path.stat().st_size > offset:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                offset += len(chunk)
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
            elif not store.get(args.id).active:
                break
            else:
                time.sleep(1.0)
    return 0


def _cmd_promote(args) -> int:
    from .manager import promote, refresh

    refresh()
    card = promote(args.id, args.name, replace=args.replace)
    print(f"promoted job {args.id} as method {card['method']}@{args.name} ({card['file']}, sha256 {card['sha256'][:12]}…)")
    return 0


def _cmd_worker(args) -> int:
    from .worker import run_worker

    return run_worker(args.id)
