"""``python -m microsr_core jobs ...``: submit, follow the log, list, show, promote; errors in one line."""

from __future__ import annotations

import json

import pytest

from microsr_core.cli import main
from microsr_core.models.registry import method_names


def test_jobs_command_line_end_to_end(job_env, capsys):
    tiny = ["--scales", "2", "--batch", "2", "--patch", "24", "--depth", "3", "--channels", "8", "--val-crop", "48",
            "--threads", "1", "--steps", "6", "--validate-every", "3", "--checkpoint-every", "3"]
    assert main(["jobs", "submit", "vdsr", "--data", "tiny", "--device", "cpu", "--log-every", "3", *tiny]) == 0
    assert "job 1 vdsr on tiny: running" in capsys.readouterr().out
    assert main(["jobs", "logs", "1", "--follow"]) == 0  # returns when the job ends
    assert "job 1: succeeded" in capsys.readouterr().out
    assert main(["jobs", "list"]) == 0
    assert "succeeded  6/6 (100 %)" in capsys.readouterr().out
    assert main(["jobs", "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint:" in out and "(step 6)" in out and '"depth": 3' in out
    assert main(["jobs", "show", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["job"]["status"] == "succeeded" and [row["step"] for row in shown["metrics"]] == [3, 6]
    assert main(["jobs", "promote", "1", "cli-model"]) == 0
    assert "vdsr@cli-model" in capsys.readouterr().out and "vdsr@cli-model" in method_names()


def test_jobs_command_line_errors_are_one_line(job_env, capsys):
    assert main(["jobs", "submit", "vdsr", "--data", "../..", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "outside the allowed folder" in err and "Traceback" not in err
    assert main(["jobs", "submit", "vdsr", "--data", "tiny", "--steps", "-5"]) == 2
    assert "steps must be positive, got -5" in capsys.readouterr().err
    assert main(["jobs", "cancel", "42"]) == 2
    assert "there is no job 42" in capsys.readouterr().err
    assert main(["jobs", "list"]) == 0
    assert "no jobs" in capsys.readouterr().out


def test_a_bool_flag_that_is_not_true_or_false_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "vdsr", "--data", "d", "--out", "o", "--augment", "maybe"])
    assert exit_info.value.code == 2
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err
