"""The Dask client every scale-out command runs on.

By default an in-process ``LocalCluster`` of worker *processes* (the networks hold the GIL in
parts of their Python code, and a killed process must not take the client with it), each
with ``threads`` task threads set explicitly; ``scheduler="tcp://HOST:PORT"`` joins an
existing cluster instead (``dask scheduler`` + ``dask worker`` on each machine), and
``slurm=SlurmJobs(...)`` submits the workers as SLURM jobs (:mod:`.slurm`); the same code runs
unchanged on each.

Each worker gets :class:`TorchThreads` at start-up, which sets torch's thread count once in
that process (a library function never changes it: it is global to the process). Models are
cached per worker process by :func:`worker_method`, so a worker loads each weights file once
however many tasks it runs.

The client never imports torch (only the workers run networks, and torch with its kernels is
about 0.3 GiB of a process): what a run needs to know of its methods (:class:`Resolved`: weights,
precision, margin) one worker answers in one task, :func:`resolve_methods`, before the others.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from distributed import WorkerPlugin

from ..errors import MicroSRError, ParameterError
from .slurm import SlurmJobs, slurm_cluster

#: How often a task is retried after an exception on a worker (a worker that dies mid-task is
#: replaced by its nanny and the task rescheduled by Dask; ``distributed.scheduler.allowed-failures``
#: bounds how many workers may die running the same task).
RETRIES = 2


class TorchThreads(WorkerPlugin):
    """Worker plugin: sets torch's intra-op threads of the worker process once, at start-up."""

    name = "microsr-torch-threads"

    def __init__(self, threads: int):
        self.threads = threads

    def setup(self, worker) -> None:
        import torch

        torch.set_num_threads(self.threads)


def _join(scheduler: str):
    """A client of the existing scheduler at ``scheduler``."""
    from distributed import Client

    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise ParameterError(f"--scheduler expects an address such as tcp://HOST:8786, got '{scheduler}'")
    try:
        return Client(scheduler, timeout="20s")
    except OSError as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None


def _start_cluster(workers: int, threads: int, memory_limit: str | int, slurm: SlurmJobs | None):
    """A ``LocalCluster`` of worker processes, or a ``SLURMCluster`` with its jobs submitted."""
    from distributed import LocalCluster

    if slurm is None:
        return LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                            memory_limit=memory_limit, dashboard_address=None)
    cluster = slurm_cluster(workers, threads, slurm)
    cluster.scale(jobs=slurm.jobs)
    return cluster


def _wait_for_a_worker(client, slurm: SlurmJobs) -> None:
    try:
        client.wait_for_workers(1, timeout=slurm.wait)
    except TimeoutError:
        raise ParameterError(f"no SLURM worker joined within {slurm.wait:g} s (--slurm-wait): the {slurm.jobs} job(s) may "
                             f"still be queued (squeue --me), or their workers cannot reach the scheduler at "
                             f"{client.scheduler.address}") from None


@contextmanager
def open_client(workers: int = 2, threads: int = 1, scheduler: str | None = None,
                memory_limit: str | int = "auto", slurm: SlurmJobs | None = None) -> Iterator[Any]:
    """A Dask client: an existing ``scheduler`` (``tcp://HOST:PORT``), or a cluster of
    ``workers`` processes with ``threads`` threads each (torch uses as many), closed on exit:
    a ``LocalCluster``, or with ``slurm`` that many processes in each SLURM job, once at least
    one worker has joined.

    ``memory_limit`` is each local worker's (Dask pauses and restarts workers beyond it); a
    SLURM job's memory is ``slurm.memory``, shared by its processes.
    """
    from distributed import Client

    if scheduler is not None and slurm is not None:
        raise ParameterError("--slurm starts its own scheduler: give --slurm or --scheduler, not both")
    if scheduler is None and (workers < 1 or threads < 1):
        raise ParameterError(f"workers and threads must be at least 1, got {workers} and {threads}")
    cluster = None if scheduler is not None else _start_cluster(workers, threads, memory_limit, slurm)
    client = _join(scheduler) if cluster is None else Client(cluster)
    try:
        client.register_plugin(TorchThreads(threads))
        if slurm is not None:
            _wait_for_a_worker(client, slurm)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def worker_method(name: str, scale: int, lr_kind: str, sha256: str | None, device: str = "cpu"):
    """The method instance this process keeps for ``name`` (one per weights sha256), checked
    to hold the weights the client resolved (``sha256``), so every task of a run uses the same.

    :func:`~microsr_core.models.inference.get_method` is the per-process cache: a worker process
    loads a model once, and again only when its weights were republished.
    """
    from ..errors import WeightsError
    from ..models.inference import get_method

    method = get_method(name, device, lr_kind)
    held = method.served(scale).sha256
    if held != sha256:
        raise WeightsError(f"'{name}' x{scale} is served by weights {str(held)[:12]}… on this worker, "
                           f"not {str(sha256)[:12]}… as when the run started (republished meanwhile?)")
    return method


@dataclass(frozen=True)
class Resolved:
    """What a run fixes once for all its tasks: the weights serving the method (each task checks
    its worker holds the same ``sha256``), the ``precision`` that the user's choice means (``auto``
    probes the CPU: probes on busy workers chose differently, and their blocks differed by 1.7e-3),
    and the method's ``margin`` (LR px of context a block needs at the run's scale), and whether its
    weights read the capture maps (then every block reads the whole image's: :func:`~.large.large_condition`)."""

    entry: str | None
    file: str | None
    sha256: str | None
    precision: str
    margin: int
    reads_capture_maps: bool = False


def resolve_methods(methods: list[str], scale: int, lr_kind: str, precision: str) -> dict[str, Resolved]:
    """The task run on one worker before a run's others: refuses a method that does not serve
    ``scale`` for ``lr_kind`` (:class:`~microsr_core.errors.ParameterError`) and resolves each
    method's :class:`Resolved` there, where torch and the models are."""
    from ..models.catalog import check_methods
    from ..models.inference import method_precision

    check_methods(methods, scale, lr_kind)
    resolved = {}
    for name in methods:
        weights = served_weights(name, scale, lr_kind)
        method = worker_method(name, scale, lr_kind, weights.sha256)
        resolved[name] = Resolved(weights.entry, weights.file, weights.sha256, method_precision(method, weights, precision),
                                  method.margin(scale), method.reads_capture_maps(scale))
    return resolved


def resolve_on_a_worker(client, methods: list[str], scale: int, lr_kind: str, precision: str) -> dict[str, Resolved]:
    """:func:`resolve_methods` run once on the cluster behind ``client`` (not retried: its errors are the user's)."""
    return client.submit(resolve_methods, methods, scale, lr_kind, precision, pure=False).result()


def served_weights(name: str, scale: int, lr_kind: str):
    """The weights that serve ``name`` at ``scale`` for ``lr_kind``, resolved from the cards on
    the client (nothing is loaded): every task checks its worker holds the same."""
    from ..models.registry import method_class
    from ..models.serving import no_weights, served

    return served(name, scale, lr_kind) if method_class(name).runs_network else no_weights(name, scale, lr_kind)


def run_tasks(client, function: Callable, calls: list[tuple], progress: Callable[[int, int, Any], None] | None = None) -> list[Any]:
    """``function(*call)`` for every call on the cluster, each with :data:`RETRIES`; returns the
    results in the order of ``calls`` and reports each as it finishes to ``progress(done, total, result)``.

    A task failing with a :class:`~microsr_core.errors.MicroSRError` (a full disk) cancels the
    rest and is raised as it is: what finished stays written, and a resumed run skips it.
    """
    from distributed import as_completed

    futures = [client.submit(function, *call, retries=RETRIES, pure=False) for call in calls]
    order = {future.key: index for index, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    try:
        for done, future in enumerate(as_completed(futures), 1):
            results[order[future.key]] = future.result()
            future.release()  # the result is here: a worker dying later must not make Dask redo the task
            if progress:
                progress(done, len(futures), results[order[future.key]])
    except MicroSRError:
        client.cancel(futures)
        raise
    return results
