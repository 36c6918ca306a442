"""Workers as SLURM jobs: a dask-jobqueue ``SLURMCluster`` for :func:`~.cluster.open_client`.

The scheduler runs in the command's own process (on the login node); each SLURM job runs the
command's ``--workers`` worker processes of ``--threads`` threads (``workers × threads`` cores)
and joins it over the network, so the login node and the compute nodes must reach each other
and share the data and output folders. dask-jobqueue is the optional extra ``slurm``; this
module imports it only when a cluster is asked for, and imports nothing heavy itself (the
command line reads :class:`SlurmJobs`'s defaults for its help).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from ..errors import ParameterError

#: The one line a missing dask-jobqueue gets.
MISSING = "--slurm needs dask-jobqueue, which is not installed: pip install 'microsr[slurm]'"


@dataclass(frozen=True)
class SlurmJobs:
    """The SLURM jobs to submit: how many, where (``queue`` is the partition, ``account`` the
    one charged; None: the site's default), each one's ``memory`` and ``walltime``, and how
    many seconds to ``wait`` for the first worker to join (jobs wait in the queue first)."""

    jobs: int = 1
    queue: str | None = None
    account: str | None = None
    memory: str = "8GB"
    walltime: str = "01:00:00"
    wait: float = 300.0


def slurm_cluster(workers: int, threads: int, slurm: SlurmJobs):
    """A ``SLURMCluster`` whose jobs each run ``workers`` processes of ``threads`` threads,
    started with no job yet (``scale`` submits them)."""
    if slurm.jobs < 1 or slurm.wait <= 0:
        raise ParameterError(f"--slurm-jobs must be at least 1 and --slurm-wait positive, got {slurm.jobs} and {slurm.wait:g}")
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ParameterError(MISSING) from None
    if shutil.which("sbatch") is None:  # else every job's submission fails in the background, unseen
        raise ParameterError("--slurm submits jobs with sbatch, which is not on PATH here: run on a SLURM login node")
    try:
        return SLURMCluster(cores=workers * threads, processes=workers, memory=slurm.memory, walltime=slurm.walltime,
                            queue=slurm.queue, account=slurm.account, job_name="microsr",
                            scheduler_options={"dashboard_address": None})
    except ValueError as exc:  # a memory size dask cannot read
        raise ParameterError(f"--slurm: {exc}") from None
