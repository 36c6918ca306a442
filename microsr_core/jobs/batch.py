"""Batch super-resolution as a job: every image of a dataset × methods, in the background.

A batch job lives in the same job store as training (kind :data:`BATCH` in the ``method``
column), so the app's progress, cancel, resume and the ``jobs`` command come with it. Its
worker process runs :func:`~microsr_core.scale_out.batch.run_batch` on a local Dask cluster
(``params["workers"]`` processes) or on ``params["scheduler"]``; ``step`` counts finished
outputs. Cancel is checked after every output (the rest of the tasks are cancelled); resume
requeues the job, whose new run skips every output already written. The outputs are
``<job folder>/outputs``, with ``records.csv`` (one row per output) and, with an HR dataset,
``per_image.csv`` (``evaluate --per-image``'s rows).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
import zipfile
from pathlib import Path
from typing import Any

from ..errors import MicroSRError, ParameterError
from .datasets import inspect_dataset
from .store import Job, JobStore

#: The ``method`` column of a batch job.
BATCH = "batch"
#: Files of a job folder that the ZIP download holds besides the outputs.
TABLES = ("records.csv", "per_image.csv")


class BatchCancelled(MicroSRError):
    """A batch job's cancel flag was set: its finished outputs stay, resume continues."""


def submit_batch(dataset: str, methods: list[str], scale: int, *, lr_kind: str = "bicubic", hr: str | None = None,
                 workers: int = 1, scheduler: str | None = None, start: bool = True, store: JobStore | None = None) -> Job:
    """Validate and queue a batch job: ``methods`` × every image of ``dataset`` (a folder under
    the data root or an uploaded ZIP's ``upload:<folder>``), against ``hr`` (the same) when given."""
    from ..comparison.evaluate import check_methods
    from .manager import queue

    check_methods(methods, scale, lr_kind)
    if not methods:
        raise ParameterError("choose at least one method")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    data = inspect_dataset(dataset)
    params = {"methods": list(methods), "scale": int(scale), "lr_kind": lr_kind, "workers": workers, "scheduler": scheduler,
              "hr": str(inspect_dataset(hr).images) if hr else None}
    return queue(store if store is not None else JobStore(), start, method=BATCH, dataset=data.label, data_dir=str(data.images),
                 params=params, device="cpu", total=data.count * len(methods), log_every=1)


def run_batch_job(job: Job, store: JobStore) -> None:
    """The worker's part: run the batch, recording progress and honouring cancel; writes the tables."""
    from ..scale_out.batch import run_batch
    from ..scale_out.cluster import open_client

    params = job.params

    def progress(done: int, total: int, record) -> None:
        store.update(job.id, step=done, total=total, heartbeat=time.time())
        print(f"{done}/{total} {record.status}: {record.image} ({record.method}){' ' + record.error if record.error else ''}", flush=True)
        if store.cancel_requested(job.id):
            raise BatchCancelled(f"cancelled after {done} of {total} outputs")

    with open_client(params["workers"], 1, params.get("scheduler")) as client:
        report = run_batch(client, job.data_dir, params["methods"], params["scale"], outputs_dir(job), hr_dir=params.get("hr"),
                           lr_kind=params["lr_kind"], resume=True, progress=progress)
    folder = Path(job.out_dir)
    fields = [f.name for f in dataclasses.fields(report.records[0])] if report.records else []
    with open(folder / "records.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(dataclasses.asdict(record) for record in report.records)
    if params.get("hr"):
        (folder / "per_image.csv").write_text(report.per_image_csv())
    failed = report.count("failed")
    print(f"{report.count('done')} made, {report.count('skipped')} already done, {failed} failed", flush=True)


def outputs_dir(job: Job) -> Path:
    return Path(job.out_dir) / "outputs"


def result_files(job: Job) -> list[Path]:
    """The outputs a batch job has written so far, by name."""
    folder = outputs_dir(job)
    return sorted(p for p in folder.iterdir() if p.suffix in (".png", ".tif")) if folder.is_dir() else []


def results_zip(job: Job) -> bytes:
    """Every output of the job and its tables, as one ZIP (outputs are PNG/TIFF already: stored)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in result_files(job):
            archive.write(path, f"outputs/{path.name}")
        for name in TABLES:
            if (Path(job.out_dir) / name).is_file():
                archive.write(Path(job.out_dir) / name, name)
    return buffer.getvalue()


def read_table(job: Job, name: str) -> list[dict[str, Any]]:
    """Rows of a job's ``records.csv`` or ``per_image.csv`` (empty before the job wrote it)."""
    path = Path(job.out_dir) / name
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


