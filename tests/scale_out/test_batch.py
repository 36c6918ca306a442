"""upscale-batch on a real LocalCluster: outputs equal the single-image path, carry their
provenance and metrics, survive a killed worker and a killed command, and a damaged file is
reported while the rest are done."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from microsr_core.comparison.evaluate import PER_IMAGE_FIELDS
from microsr_core.errors import StorageError
from microsr_core.imaging.io import read_metadata, to_uint
from microsr_core.models.inference import upscale
from microsr_core.models.serving import served
from microsr_core.scale_out import batch
from microsr_core.scale_out.batch import BatchItem, run_batch
from microsr_core.scale_out.cluster import resolve_methods

from .conftest import kill_busy_worker, loaded, lr_fields

PROJECT = Path(__file__).resolve().parents[2]


def single_image(path: Path, method: str) -> np.ndarray:
    """What ``python -m microsr_core upscale`` writes for ``path``, as read back."""
    return to_uint(upscale(loaded(path), method, 2).image).astype(np.float32) / 255.0


def test_every_image_and_method_with_provenance_metrics_and_a_damaged_file(client, tmp_path):
    images = lr_fields(tmp_path / "lr", 2)
    hr = tmp_path / "hr"
    lr_fields(hr, 2, size=(80, 112))  # not the LRs' true HR: the metrics only have to be the evaluate rows
    (tmp_path / "lr" / "field_99.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # damaged
    report = run_batch(client, tmp_path / "lr", ["bicubic", "vdsr"], 2, tmp_path / "out", hr_dir=hr)
    failed = [r for r in report.records if r.status == "failed"]
    assert {(r.image, r.method) for r in failed} == {("field_99.png", "bicubic"), ("field_99.png", "vdsr")}
    assert all("field_99.png" in r.error and ("damaged" in r.error or "not an image" in r.error) for r in failed)
    assert report.count("done") == 4
    for image in images:
        for method in ("bicubic", "vdsr"):
            output = tmp_path / "out" / f"{image.stem}.{method}.x2.png"
            np.testing.assert_array_equal(loaded(output), single_image(image, method))
            text = read_metadata(output)
            assert text["method"] == method and text["scale"] == "2" and text["lr_kind"] == "bicubic"
            assert set(PER_IMAGE_FIELDS) <= set(text)
    assert read_metadata(tmp_path / "out" / "field_00.vdsr.x2.png")["weights_sha256"] == served("vdsr", 2).sha256
    lines = report.per_image_csv().splitlines()
    assert lines[0] == ",".join(("method", "image") + PER_IMAGE_FIELDS) and len(lines) == 5


def test_a_worker_killed_mid_run_still_yields_every_output(client, tmp_path):
    images = lr_fields(tmp_path / "lr", 8, size=(64, 80))
    killed = []

    def progress(done, total, record):
        if not killed:
            assert done < total
            killed.append(kill_busy_worker(client))

    report = run_batch(client, tmp_path / "lr", ["vdsr"], 2, tmp_path / "out", progress=progress)
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    assert report.count("done") == 8
    for image in images:
        np.testing.assert_array_equal(loaded(tmp_path / "out" / f"{image.stem}.vdsr.x2.png"), single_image(image, "vdsr"))


def test_resume_after_the_whole_command_was_killed_redoes_nothing_finished(client, tmp_path):
    lr_fields(tmp_path / "lr", 16, size=(64, 80))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-m", "microsr_core", "upscale-batch", str(tmp_path / "lr"), "--methods", "vdsr", "--scale", "2",
               "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(command, cwd=PROJECT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*.png")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the command, its cluster and its worker
    process.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 1 <= len(before) < 16
    report = run_batch(client, tmp_path / "lr", ["vdsr"], 2, out, resume=True)
    assert report.count("skipped") == len(before) and report.count("done") == 16 - len(before)
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in before.items())
    assert len(list(out.glob("*.png"))) == 16


def test_resume_redoes_an_output_that_lacks_the_metrics_now_asked_for(client, tmp_path):
    lr_fields(tmp_path / "lr", 2)
    lr_fields(tmp_path / "hr", 2, size=(80, 112))
    run_batch(client, tmp_path / "lr", ["bicubic"], 2, tmp_path / "out")
    again = run_batch(client, tmp_path / "lr", ["bicubic"], 2, tmp_path / "out", resume=True)
    assert again.count("skipped") == 2
    measured = run_batch(client, tmp_path / "lr", ["bicubic"], 2, tmp_path / "out", resume=True, hr_dir=tmp_path / "hr")
    assert measured.count("done") == 2 and all(r.metrics for r in measured.records)
    kept = run_batch(client, tmp_path / "lr", ["bicubic"], 2, tmp_path / "out", resume=True, hr_dir=tmp_path / "hr")
    assert kept.count("skipped") == 2 and [r.metrics for r in kept.records] == [r.metrics for r in measured.records]


def test_a_zip_is_unpacked_safely(client, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path / "home"))
    images = lr_fields(tmp_path / "lr", 2)
    archive = tmp_path / "fields.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for image in images:
            handle.write(image, f"fields/{image.name}")
    report = run_batch(client, archive, ["bicubic"], 2, tmp_path / "out")
    assert report.count("done") == 2
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as handle:
        handle.writestr("../outside.png", images[0].read_bytes())
    with pytest.raises(Exception, match="outside the archive"):
        run_batch(client, evil, ["bicubic"], 2, tmp_path / "out2")


def test_a_full_disk_is_one_clear_error_and_finished_outputs_stay(tmp_path, monkeypatch):
    """The task itself (no cluster needed): ENOSPC while writing becomes a StorageError."""
    image = lr_fields(tmp_path / "lr", 1)[0]
    done = tmp_path / "out" / "earlier.png"
    done.parent.mkdir()
    done.write_bytes(b"kept")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch, "save_image", full)
    provenance = batch._provenance("bicubic", 2, "bicubic", resolve_methods(["bicubic"], 2, "bicubic", "auto")["bicubic"])
    with pytest.raises(StorageError, match=r"disk is full.*--resume") as caught:
        batch.upscale_item(BatchItem(image, "bicubic", tmp_path / "out" / "x.png"), 2, "bicubic", "fp32", provenance, None)
    assert "\n" not in str(caught.value) and done.read_bytes() == b"kept"


def test_the_command_line_refuses_bad_settings_in_one_line(capsys, tmp_path):
    from microsr_core.cli import main

    lr_fields(tmp_path / "lr", 1)
    assert main(["upscale-batch", str(tmp_path / "lr"), "--methods", "vdsr", "--scale", "2", "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert main(["upscale-batch", str(tmp_path / "lr"), "--methods", "bicubic", "--scale", "2", "--out", str(tmp_path / "o"),
                 "--scheduler", "localhost:1"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)
