"""Widgets of the Train page: the launch form, the job list, live curves, log tail and actions.

Jobs run in detached worker processes (:mod:`microsr_core.jobs`) and write their state to the
job store; this module only reads the store and sends requests (submit, cancel, resume,
promote). While a job is queued or running the job panel is a fragment that reruns every
:data:`REFRESH_SECONDS`, so progress bars, curves and the log tail move without a full rerun;
when nothing is active it stops polling.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from .. import jobs
from ..errors import MicroSRError, ParameterError
from ..paths import data_root, promoted_models_dir

#: Seconds between refreshes of the job panel while a job is queued or running.
REFRESH_SECONDS = 2.0
#: Session-state keys.
SELECTED = "train_job"
FLASH = "train_flash"

def _is_loss(key: str) -> bool:
    return "loss" in key and not key.startswith("val_")


def _trainers() -> dict:
    from ..train import TRAINERS

    return TRAINERS


def _default(config_cls: type, name: str, fallback: Any) -> Any:
    """The value field ``name`` gets when left open: its default, or the recipe's (``auto`` device)."""
    recipe = config_cls.recipe_values("auto")
    for f in dataclasses.fields(config_cls):
        if f.name == name and f.default is not dataclasses.MISSING:
            return recipe.get(name, f.default) if f.default is None else f.default
    return fallback


def _show_defaults_of(config_cls: type, method: str) -> None:
    """Put the method's defaults into the form's number inputs when the method changes."""
    if st.session_state.get("train_defaults_of") == method:
        return
    st.session_state["train_defaults_of"] = method
    st.session_state["train_scales"] = list(_default(config_cls, "scales", (2,)))
    st.session_state["train_steps"] = int(_default(config_cls, "steps", 1000))
    st.session_state["train_batch"] = int(_default(config_cls, "batch", 16))
    st.session_state["train_lr"] = float(_default(config_cls, "lr", 1e-4))


def parse_extra(text: str) -> dict[str, str]:
    """``name = value`` lines (``#`` comments, blank lines ignored) -> {name: value}."""
    params = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"other parameters, line {number}: expected 'name = value', got '{line}'")
        params[name.strip().replace("-", "_")] = value.strip()
    return params


def launch_form() -> None:
    """The form that submits a training job; errors are shown, nothing is queued then."""
    from ..models.device import available_devices

    trainers = _trainers()
    folders = jobs.list_dataset_folders()
    # Outside the form, so that choosing a method shows its defaults (its training recipe).
    method = st.selectbox("Method", list(trainers), key="train_method", format_func=lambda m: f"{m}: {trainers[m].help}")
    config_cls = trainers[method].config_cls
    _show_defaults_of(config_cls, method)
    with st.form("train_launch"):
        left, right = st.columns(2)
        folder = left.selectbox(
            "Dataset folder (under the data root)", folders, index=0 if folders else None, key="train_folder",
            placeholder="no image folders under the data root", help=f"data root: {data_root()}",
        )
        upload = right.file_uploader("…or a ZIP of images (masks in masks/)", type=["zip"], key="train_zip")
        scales = st.multiselect("Scales", sorted({2, 3, 4} | set(_default(config_cls, "scales", ()))), key="train_scales",
                                format_func=lambda s: f"x{s}")
        cols = st.columns(4)
        steps = cols[0].number_input("Steps", min_value=1, step=100, key="train_steps")
        batch = cols[1].number_input("Batch size", min_value=1, key="train_batch")
        lr = cols[2].number_input("Learning rate", min_value=0.0, format="%.4g", key="train_lr")
        device = cols[3].selectbox("Device", ["auto", *available_devices()], key="train_device")
        with st.expander("More options"):
            nproc = st.number_input("Data-parallel processes (torchrun when more than 1)", min_value=1, value=1, key="train_nproc")
            extra = st.text_area(
                "Other parameters, one `name = value` per line", key="train_extra",
                help="Any field of the method's config: " + ", ".join(f.name for f in dataclasses.fields(config_cls)),
            )
        submitted = st.form_submit_button("Start training", type="primary", key="train_submit")
    if not submitted:
        return

    def make_job() -> jobs.Job:
        dataset = chosen_dataset(upload, folder, "choose a dataset folder or upload a ZIP of images")
        names = {f.name for f in dataclasses.fields(trainers[method].config_cls)}
        params = {"scales": list(scales), "steps": int(steps), "batch": int(batch), "lr": float(lr)}
        params = {k: v for k, v in params.items() if k in names} | parse_extra(extra or "")
        return jobs.submit(method, dataset, params, device=device, nproc=int(nproc))

    queue_job(make_job, SELECTED)


def chosen_dataset(upload, folder: str | None, missing: str) -> str:
    """The dataset name of an uploaded ZIP (unpacked safely) or of the chosen data-root folder."""
    dataset = jobs.unpack_zip(upload.getvalue(), upload.name) if upload is not None else folder
    if not dataset:
        raise ParameterError(missing)
    return dataset


def queue_job(make_job: Callable[[], jobs.Job], selected_key: str, noun: str = "Job") -> None:
    """Submit with ``make_job``: show its error (nothing is queued then), or select the new job."""
    try:
        job = make_job()
    except MicroSRError as exc:
        st.error(str(exc))
        return
    st.session_state[selected_key] = job.id
    st.success(f"{noun} {job.id} is {job.status}.")


def polled_panel(panel: Callable[[tuple[int, ...]], None], kind: Callable[[jobs.Job], bool]) -> None:
    """Draw ``panel`` as a fragment that reruns every :data:`REFRESH_SECONDS` while a job of this
    ``kind`` is queued or running (and stops polling when none is); ``panel`` gets their ids."""
    store = jobs.JobStore()
    jobs.refresh(store)
    active = tuple(job.id for job in store.list(jobs.ACTIVE) if kind(job))
    st.fragment(panel, run_every=REFRESH_SECONDS if active else None)(active)


def jobs_panel() -> None:
    """The training jobs and the selected one; polls while any is queued or running."""
    polled_panel(_panel, lambda job: job.method != jobs.BATCH)


def _panel(active_at_start: tuple[int, ...]) -> None:
    store = jobs.JobStore()
    jobs.refresh(store)
    listed = [job for job in store.list(limit=50) if job.method != jobs.BATCH]  # batch jobs: the Batch page
    if tuple(job.id for job in listed if job.active) != active_at_start:
        st.rerun()  # a job started or ended: redraw the page (and stop polling when idle)
    st.subheader("Jobs")
    if not listed:
        st.info("No training jobs yet: start one with the form above, or `python -m microsr_core jobs submit`.")
        return
    st.dataframe(pd.DataFrame([_row(job) for job in listed]), hide_index=True, key="train_jobs_table", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=100, format="%.0f %%"),
    })
    ids = [job.id for job in listed]
    if st.session_state.get(SELECTED) not in ids:
        st.session_state[SELECTED] = ids[0]
    by_id = {job.id: job for job in listed}
    chosen = st.selectbox("Job", ids, key=SELECTED, format_func=lambda i: by_id[i].describe())
    _detail(store, by_id[chosen])


def _row(job: jobs.Job) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "progress": round(100 * job.fraction, 1),
        "steps": f"{job.step}/{job.total}", "method": job.method, "dataset": job.dataset,
        "device": job.device + (f" x{job.processes}" if job.processes > 1 else ""),
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created)),
        "promoted": f"{job.method}@{job.promoted}" if job.promoted else "",
    }


def _detail(store: jobs.JobStore, job: jobs.Job) -> None:
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash)
    st.progress(job.fraction, text=f"Job {job.id} {job.status}: step {job.step} of {job.total} ({100 * job.fraction:.0f} %)")
    if job.status == "failed":
        st.error(f"Failed: {job.error}")
    elif job.status == "cancelled":
        st.warning(f"Cancelled at step {job.step}; resume continues from the checkpoint at step {job.checkpoint_step or 0}.")
    _actions(store, job)
    history = store.metrics(job.id)
    if history:
        left, right = st.columns(2)
        left.plotly_chart(_curves(history, _is_loss, "Training loss", job.total, log=True), key=f"train_losses_{job.id}")
        if any(key.startswith("val_psnr") for row in history for key in row):
            right.plotly_chart(_curves(history, lambda k: k.startswith("val_psnr"), "Validation PSNR-Y (dB)", job.total),
                               key=f"train_val_{job.id}")
        else:
            right.info(_no_validation_yet(job))
    else:
        st.caption("No metrics yet: the first are logged after the first steps.")
    st.caption(f"Log: {job.log_path}")
    st.code(jobs.read_log(job, tail=30) or "(empty)", language=None)


def _actions(store: jobs.JobStore, job: jobs.Job) -> None:
    if job.active:
        if job.cancel_requested:
            st.caption("Cancelling after the current step…")
        elif st.button("Cancel", key=f"train_cancel_{job.id}"):
            _act(lambda: jobs.cancel(job.id, store), f"Cancel requested for job {job.id}.")
    elif job.status in ("failed", "cancelled"):
        if st.button("Resume", key=f"train_resume_{job.id}"):
            _act(lambda: jobs.resume(job.id, store), f"Job {job.id} requeued; it continues from its last checkpoint.")
    elif job.status == "succeeded":
        if job.promoted:
            st.success(f"Promoted as method **{job.method}@{job.promoted}**: pick it on the Compare page.")
            card = promoted_models_dir() / f"{job.promoted}.md"
            with st.expander("Model card"):
                st.markdown(card.read_text() if card.is_file() else "(model card missing)")
            return
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        name = left.text_input("Model name", value=f"job{job.id}", key=f"train_promote_name_{job.id}",
                               help="The model becomes the method <method>@<name> on the Compare page.")
        if right.button("Promote", key=f"train_promote_{job.id}"):
            _act(lambda: jobs.promote(job.id, name, store=store),
                 f"Promoted job {job.id} as method {job.method}@{name}: pick it on the Compare page.")


def _act(action, message: str) -> None:
    try:
        action()
    except MicroSRError as exc:
        st.error(str(exc))
        return
    st.session_state[FLASH] = message
    st.rerun()


def _no_validation_yet(job: jobs.Job) -> str:
    trainer = _trainers().get(job.method)
    every = int(job.params.get("validate_every") or (_default(trainer.config_cls, "validate_every", 500) if trainer else 500))
    first = min(every, job.total)
    return (f"Validation PSNR-Y: none yet. Validation runs every {every} steps and at the last step, so the first "
            f"comes at step {first} (now {job.step}).")


def _curves(history: list[dict[str, Any]], keep, title: str, total: int, log: bool = False) -> go.Figure:
    """One line per metric over the whole run's steps (0 to ``total``), so that a young run's few
    points sit where they belong instead of filling the chart with fractional step ticks."""
    figure = go.Figure()
    keys = sorted({k for row in history for k in row if keep(k)})
    for key in keys:
        points = [(row["step"], row[key]) for row in history if key in row]
        figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=key))
    figure.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step",
                         legend=dict(orientation="h", y=-0.25))
    figure.update_xaxes(range=[0, max(total, 1)], tickformat="d", rangemode="nonnegative")
    if log:
        figure.update_yaxes(type="log")
    return figure
