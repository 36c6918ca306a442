"""Workers as SLURM jobs (``--slurm``). There is no SLURM here: a stand-in ``sbatch`` on PATH
runs the job script dask-jobqueue writes as a local process (or only prints a job id), and a
stand-in ``scancel`` ends that process group, so the flags, the script, the waiting and the
workers' torch threads are checked for real."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from microsr_core.cli import _slurm_jobs, build_parser, main
from microsr_core.errors import ParameterError
from microsr_core.scale_out.cluster import open_client
from microsr_core.scale_out.slurm import SlurmJobs, slurm_cluster
from tests.scale_out.conftest import lr_fields

#: What only runs where the slurm extra is installed (requirements-test.txt installs it).
needs_jobqueue = pytest.mark.skipif(importlib.util.find_spec("dask_jobqueue") is None, reason="dask-jobqueue is not installed")

#: sbatch and scancel of a queue that runs each job at once: the job script (a copy beside sbatch:
#: dask-jobqueue deletes its own) in a new process group, whose id is the job's and what scancel ends.
RUNS = {"sbatch": '#!/bin/sh\ncp "$1" "$0.$$.sh"\nsetsid bash "$0.$$.sh" >/dev/null 2>&1 &\necho "Submitted batch job $!"\n',
        "scancel": '#!/bin/sh\nkill -TERM -"$1"\n'}
#: ... and of a queue that never starts a job (so there is nothing to end).
QUEUED = {"sbatch": '#!/bin/sh\necho "Submitted batch job 4242"\n', "scancel": "#!/bin/sh\n"}


def _stand_in_slurm(folder, monkeypatch, commands: dict[str, str]) -> None:
    folder.mkdir()
    for name, text in commands.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{sys.exec_prefix}/bin:/usr/bin:/bin")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _batch_args(tmp_path, *flags: str) -> list[str]:
    lr_fields(tmp_path / "lr", 1)
    return ["upscale-batch", str(tmp_path / "lr"), "--methods", "bicubic", "--scale", "2", "--out", str(tmp_path / "out"), *flags]


@needs_jobqueue
def test_the_job_script_asks_for_what_the_flags_say(tmp_path, monkeypatch):
    _stand_in_slurm(tmp_path / "bin", monkeypatch, QUEUED)
    args = build_parser().parse_args(_batch_args(tmp_path, "--slurm", "--workers", "2", "--threads", "3", "--slurm-queue", "gpu",
                                                 "--slurm-account", "lab", "--slurm-memory", "16GiB", "--slurm-walltime", "02:30:00"))
    cluster = slurm_cluster(args.workers, args.threads, _slurm_jobs(args))
    try:
        script, address = cluster.job_script(), cluster.scheduler_address
    finally:
        cluster.close()
    lines = script.splitlines()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=6", "#SBATCH --mem=16G", "#SBATCH -t 02:30:00",
                 "#SBATCH -J microsr"):
        assert line in lines, script
    worker = lines[-1].split()
    assert worker[:4] == [sys.executable, "-m", "distributed.cli.dask_worker", address]
    # two processes of three threads each (torch's threads follow: see the next test), 8 GiB each
    assert worker[worker.index("--nworkers") + 1] == "2" and worker[worker.index("--nthreads") + 1] == "3"
    assert worker[worker.index("--memory-limit") + 1] == "8.00GiB" and "--nanny" in worker


@needs_jobqueue
def test_jobs_join_and_run_torch_on_the_threads_asked(tmp_path, monkeypatch):
    _stand_in_slurm(tmp_path / "bin", monkeypatch, RUNS)
    with open_client(workers=1, threads=2, slurm=SlurmJobs(memory="2GiB", wait=120)) as client:
        # Dask starts workers with OMP_NUM_THREADS=1: two threads only come from the worker plugin.
        assert list(client.run(_torch_threads).values()) == [2]
        assert client.submit(sum, [1, 2]).result() == 3


@needs_jobqueue
def test_a_job_still_queued_ends_the_wait_with_a_clear_message(tmp_path, monkeypatch):
    _stand_in_slurm(tmp_path / "bin", monkeypatch, QUEUED)
    with pytest.raises(ParameterError, match=r"no SLURM worker joined within 1 s \(--slurm-wait\): the 2 job\(s\) may still be queued"):
        with open_client(workers=1, threads=1, slurm=SlurmJobs(jobs=2, wait=1)):
            pass


def test_without_dask_jobqueue_slurm_names_the_extra_in_one_line(tmp_path, monkeypatch, capsys):
    _stand_in_slurm(tmp_path / "bin", monkeypatch, QUEUED)
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import dask_jobqueue raises ImportError
    assert main(_batch_args(tmp_path, "--slurm")) == 2
    assert capsys.readouterr().err.splitlines() == ["error: --slurm needs dask-jobqueue, which is not installed: pip install 'microsr[slurm]'"]


@pytest.mark.parametrize("flags, message", [
    (("--slurm", "--scheduler", "tcp://localhost:8786"), "give --slurm or --scheduler, not both"),
    (("--slurm-jobs", "4"), "--slurm-jobs needs --slurm"),
    (("--slurm", "--slurm-jobs", "0"), "--slurm-jobs must be at least 1"),
    pytest.param(("--slurm", "--slurm-memory", "lots"), "--slurm: ", marks=needs_jobqueue),
    (("--slurm", "--threads", "0"), "workers and threads must be at least 1"),
])
def test_the_command_line_refuses_bad_slurm_settings_in_one_line(tmp_path, monkeypatch, capsys, flags, message):
    _stand_in_slurm(tmp_path / "bin", monkeypatch, QUEUED)
    assert main(_batch_args(tmp_path, *flags)) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors


def test_without_sbatch_slurm_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(_batch_args(tmp_path, "--slurm")) == 2
    assert "sbatch, which is not on PATH here: run on a SLURM login node" in capsys.readouterr().err
