"""Batch super-resolution as a job: submitted, run by a detached worker on its own Dask cluster,
cancelled after its first output and resumed without redoing what finished."""

from __future__ import annotations

import io
import zipfile

import pytest

from microsr_core import jobs
from microsr_core.errors import ParameterError
from microsr_core.imaging.io import load_image, save_image
from microsr_core.jobs.manager import cancel, resume, schedule

from .helpers import wait_status


def test_refused_before_anything_is_stored(job_env):
    with pytest.raises(ParameterError, match="does not support x5"):
        jobs.submit_batch("tiny/images", ["vdsr"], 5, store=job_env.store)
    with pytest.raises(ParameterError, match="outside the allowed folder"):
        jobs.submit_batch("../../etc", ["bicubic"], 2, store=job_env.store)
    with pytest.raises(ParameterError, match="workers"):
        jobs.submit_batch("tiny/images", ["bicubic"], 2, workers=0, store=job_env.store)
    assert job_env.store.list() == []


def test_cancel_keeps_what_finished_and_resume_redoes_none_of_it(job_env):
    store = job_env.store
    for lr in (job_env.data / "tiny" / "images").iterdir():  # HR twins: each LR doubled (the metrics need only the size)
        save_image(job_env.data / "tiny_hr" / lr.name, load_image(lr).pixels.repeat(2, 0).repeat(2, 1))
    job = jobs.submit_batch("tiny/images", ["bicubic"], 2, hr="tiny_hr", start=False, store=store)
    assert job.total == 6 and job.method == jobs.BATCH
    schedule(store)
    cancel(job.id, store)  # set while the worker is still starting its cluster: it stops after its first output
    job = wait_status(store, job.id, timeout=120)
    assert job.status == "cancelled" and 1 <= job.step <= 6, job.error
    before = {p.name: p.stat().st_mtime_ns for p in jobs.result_files(job)}
    resume(job.id, store)
    job = wait_status(store, job.id, timeout=120)
    assert job.status == "succeeded" and job.step == 6, jobs.read_log(job)
    records = jobs.read_table(job, "records.csv")
    assert sum(r["status"] == "skipped" for r in records) == len(before) and len(records) == 6
    assert all(p.stat().st_mtime_ns == before[p.name] for p in jobs.result_files(job) if p.name in before)
    assert all(r["status"] != "failed" for r in records) and len(jobs.read_table(job, "per_image.csv")) == 6
    names = zipfile.ZipFile(io.BytesIO(jobs.results_zip(job))).namelist()
    assert len([n for n in names if n.startswith("outputs/")]) == 6 and "per_image.csv" in names
