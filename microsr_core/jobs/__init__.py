"""Background training jobs: a durable SQLite job store, detached workers, recovery, scale-out.

Users launch training from the browser (``pages/train.py``) or the command line
(``python -m microsr_core jobs submit|list|show|cancel|resume|logs|promote``) and come back
later: a job outlives the browser tab, Streamlit reruns and app restarts, and a crash costs at
most the steps since its last checkpoint.

- :mod:`.store`: the job store (``<home>/jobs.db``, WAL mode): jobs and their metrics history.
- :mod:`.datasets`: dataset folders under the data root, and uploaded ZIPs unpacked safely.
- :mod:`.manager`: submit (validation), schedule (per-device slots), launch (detached
  processes, ``torchrun`` for several processes or nodes), recover, cancel, resume, promote.
- :mod:`.worker`: the process that runs a job's trainer with progress, heartbeat and cancel.
- :mod:`.batch`: batch super-resolution (:mod:`microsr_core.scale_out`) as a job kind.
- :mod:`.cli`: the ``jobs`` subcommand.

Nothing here imports streamlit; the Train page's widgets live in :mod:`microsr_core.ui`.
"""

from .batch import BATCH, read_table, result_files, results_zip, submit_batch
from ..uploads import unpack_zip, uploads_dir
from .datasets import Dataset, inspect_dataset, list_dataset_folders
from .manager import (
    cancel,
    get_job,
    job_metrics,
    jobs_dir,
    list_jobs,
    promote,
    read_log,
    recover,
    refresh,
    resume,
    schedule,
    slot_limit,
    submit,
    worker_command,
)
from .store import ACTIVE, FINISHED, STATUSES, Job, JobStore

__all__ = [
    "BATCH", "read_table", "result_files", "results_zip", "submit_batch",
    "ACTIVE", "FINISHED", "STATUSES", "Dataset", "Job", "JobStore", "cancel", "get_job",
    "inspect_dataset", "job_metrics", "jobs_dir", "list_dataset_folders", "list_jobs", "promote",
    "read_log", "recover", "refresh", "resume", "schedule", "slot_limit", "submit", "unpack_zip",
    "uploads_dir", "worker_command",
]
