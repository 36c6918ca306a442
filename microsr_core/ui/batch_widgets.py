"""Widgets of the Batch page: the form that queues a batch job, and the job's progress, gallery,
metrics table and ZIP download.

Batch jobs are jobs of the job store (:mod:`microsr_core.jobs.batch`): they run in detached
worker processes on their own Dask cluster, so this module only submits, reads the store and
the job's files, and sends cancel/resume. While a batch job is active the panel polls every
:data:`REFRESH_SECONDS` (a fragment), like the Train page's.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import jobs
from ..errors import MicroSRError, ParameterError
from ..paths import data_root
from .train_widgets import chosen_dataset, polled_panel, queue_job

SELECTED = "batch_job"
#: Outputs shown in the gallery (the ZIP has all).
GALLERY = 12


def launch_form() -> None:
    """The form that queues a batch job; errors are shown, nothing is queued then."""
    from ..models.catalog import method_scales
    from ..models.registry import method_names

    folders = jobs.list_dataset_folders()
    with st.form("batch_launch"):
        left, right = st.columns(2)
        folder = left.selectbox("Images (a folder under the data root)", folders, index=0 if folders else None,
                                key="batch_folder", help=f"data root: {data_root()}", placeholder="no image folders under the data root")
        upload = right.file_uploader("…or a ZIP of images", type=["zip"], key="batch_zip")
        methods = st.multiselect("Methods", method_names(), default=["bicubic"], key="batch_methods")
        cols = st.columns(4)
        scale = cols[0].selectbox("Scale", [2, 3, 4], key="batch_scale", format_func=lambda s: f"x{s}")
        lr_kind = cols[1].selectbox("LR kind", ["bicubic", "real"], key="batch_lr_kind")
        workers = cols[2].number_input("Worker processes", min_value=1, max_value=64, value=1, key="batch_workers")
        hr = cols[3].selectbox("HR references (optional)", ["", *folders], key="batch_hr",
                               help="a folder with the inputs' names at LR x scale: adds the per-image metrics")
        submitted = st.form_submit_button("Start batch", type="primary", key="batch_submit")
    if not submitted:
        return

    def make_job() -> jobs.Job:
        dataset = chosen_dataset(upload, folder, "choose a folder of images or upload a ZIP of them")
        unserved = [m for m in methods if scale not in method_scales(m, lr_kind)]
        if unserved:
            raise ParameterError(f"{', '.join(unserved)} cannot run x{scale} for {lr_kind} LR")
        return jobs.submit_batch(dataset, list(methods), int(scale), lr_kind=lr_kind, hr=hr or None, workers=int(workers))

    queue_job(make_job, SELECTED, "Batch job")


def jobs_panel() -> None:
    """The batch jobs and the selected one; polls while one is queued or running."""
    polled_panel(_panel, lambda job: job.method == jobs.BATCH)


def _panel(active_at_start: tuple[int, ...]) -> None:
    store = jobs.JobStore()
    listed = [job for job in store.list(limit=100) if job.method == jobs.BATCH]
    if tuple(job.id for job in listed if job.active) != active_at_start:
        st.rerun()
    if not listed:
        st.info("No batch jobs yet: start one with the form above, or run `python -m microsr_core upscale-batch`.")
        return
    by_id = {job.id: job for job in listed}
    if st.session_state.get(SELECTED) not in by_id:
        st.session_state[SELECTED] = listed[0].id
    chosen = by_id[st.selectbox("Batch job", list(by_id), key=SELECTED, format_func=lambda i: _label(by_id[i]))]
    st.progress(chosen.fraction, text=f"Job {chosen.id} {chosen.status}: {chosen.step} of {chosen.total} outputs")
    _actions(store, chosen)
    _results(chosen)


def _label(job: jobs.Job) -> str:
    return f"{job.id}: {', '.join(job.params['methods'])} x{job.params['scale']} on {job.dataset} ({job.status})"


def _actions(store: jobs.JobStore, job: jobs.Job) -> None:
    if job.status == "failed":
        st.error(f"Failed: {job.error}")
    try:
        if job.active and not job.cancel_requested and st.button("Cancel", key=f"batch_cancel_{job.id}"):
            jobs.cancel(job.id, store)
            st.rerun()
        if job.status in ("failed", "cancelled") and st.button("Resume (finished outputs are kept)", key=f"batch_resume_{job.id}"):
            jobs.resume(job.id, store)
            st.rerun()
    except MicroSRError as exc:
        st.error(str(exc))


def _results(job: jobs.Job) -> None:
    files = jobs.result_files(job)
    if not files:
        st.caption("No outputs yet.")
        return
    shown = files[:GALLERY]
    for row in range(0, len(shown), 4):
        for column, path in zip(st.columns(4), shown[row : row + 4]):
            column.image(str(path), caption=path.name, width="stretch")
    metrics = jobs.read_table(job, "per_image.csv")
    records = jobs.read_table(job, "records.csv")
    if metrics:
        st.subheader("Per-image metrics (Y-PSNR/SSIM, border = scale, gain over bicubic)")
        st.dataframe(pd.DataFrame(metrics), hide_index=True, key=f"batch_metrics_{job.id}")
    failed = [r for r in records if r["status"] == "failed"]
    if failed:
        st.warning("Not processed: " + "; ".join(f"{r['image']} ({r['method']}): {r['error']}" for r in failed))
    st.download_button("Download all outputs (ZIP)", jobs.results_zip(job), file_name=f"batch_{job.id}.zip",
                       mime="application/zip", key=f"batch_zip_{job.id}")
