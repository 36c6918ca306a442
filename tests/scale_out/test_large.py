"""upscale-large on a real LocalCluster: blocks with their halo equal the untiled result, the
OME-Zarr says its pixel size and provenance, background blocks are skipped, finished chunks
are not redone, and a worker killed mid-run still leaves every chunk written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from microsr_core.errors import ParameterError
from microsr_core.imaging.io import sample_image
from microsr_core.models.inference import upscale
from microsr_core.models.serving import served
from microsr_core.scale_out.large import upscale_large
from microsr_core.scale_out.outputs import done_marker

from .conftest import kill_busy_worker

PROJECT = Path(__file__).resolve().parents[2]
LR_SHAPE = (96, 128)
BLOCK = 40  # 3 x 4 blocks


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    """A 96x128 uint8 OME-TIFF (0.5 µm/px, two levels) whose right 40 columns are glass."""
    pixels = np.round(sample_image()[: LR_SHAPE[0], : LR_SHAPE[1]] * 255).astype(np.uint8)
    pixels[:, 88:] = 247
    path = tmp_path_factory.mktemp("slide") / "slide.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(pixels, subifds=1, tile=(32, 32), metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(pixels[::2, ::2], subfiletype=1, tile=(32, 32))
    return path, pixels.astype(np.float32) / 255.0


def level0(out) -> np.ndarray:
    return np.moveaxis(zarr.open_array(f"{out}/0", mode="r")[:], 0, -1)


@pytest.fixture(scope="module")
def whole(slide):
    return upscale(slide[1], "vdsr", 2, tile=0).image


def test_blocks_with_their_halo_equal_the_untiled_result(client, slide, whole, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    report = upscale_large(client, slide[0], "vdsr", 2, out, block=BLOCK, skip_background=False, output_dtype="float32")
    assert report.blocks == 12 and report.computed == 12
    assert np.abs(level0(out) - whole).max() <= 1e-4


def test_tiles_inside_a_block_leave_the_result_equal(client, slide, whole, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    upscale_large(client, slide[0], "vdsr", 2, out, block=64, tile=24, skip_background=False, output_dtype="float32")
    assert np.abs(level0(out) - whole).max() <= 1e-4
    assert zarr.open_group(out, mode="r").attrs["microsr"]["tile"] == 24


def test_ome_zarr_pixel_size_is_the_inputs_over_the_scale_with_provenance(client, slide, tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    out = tmp_path / "sr.ome.zarr"
    report = upscale_large(client, slide[0], "vdsr", 2, out, block=BLOCK)
    attrs = dict(zarr.open_group(out, mode="r").attrs)
    assert attrs["microsr"]["weights_sha256"] == served("vdsr", 2).sha256
    assert attrs["microsr"]["lr_kind"] == "bicubic" and attrs["microsr"]["method"] == "vdsr"
    image = Reader(parse_url(str(out)))().__next__()  # the reference reader understands it
    scales = [t[0]["scale"] for t in image.metadata["coordinateTransformations"]]
    assert scales[0] == [1.0, 0.25, 0.25] and scales[1] == [1.0, 0.5, 0.5]
    assert [tuple(level.shape) for level in image.data][:2] == [(3, 192, 256), (3, 96, 128)]
    assert report.levels == len(image.data)


def test_a_background_block_is_the_bicubic_upscale(client, slide, whole, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    report = upscale_large(client, slide[0], "vdsr", 2, out, block=BLOCK, output_dtype="float32")
    # Block columns 0-40, 40-80, 80-120, 120-128: only the last is glass with its halo (tissue ends at 88).
    assert report.background == 3 and report.computed == 9
    bicubic = upscale(slide[1], "bicubic", 2, tile=0).image
    result = level0(out)
    assert np.abs(result[:, 2 * 120 :] - bicubic[:, 2 * 120 :]).max() <= 1e-4
    assert np.abs(result[:, : 2 * 120] - whole[:, : 2 * 120]).max() <= 1e-4


def test_resume_skips_finished_chunks_and_refuses_another_runs_output(client, slide, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    upscale_large(client, slide[0], "vdsr", 2, out, block=BLOCK)
    marker = done_marker(out, 0, 1, 2)
    marker.unlink()  # as if killed before this chunk was finished
    kept = {p: p.stat().st_mtime_ns for p in (out / ".microsr-done" / "0").iterdir()}
    report = upscale_large(client, slide[0], "vdsr", 2, out, block=BLOCK, resume=True)
    assert report.skipped == 11 and report.computed + report.background == 1 and marker.exists()
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())
    with pytest.raises(ParameterError, match="--resume"):
        upscale_large(client, slide[0], "vdsr", 2, out, block=BLOCK)
    with pytest.raises(ParameterError, match="another run"):
        upscale_large(client, slide[0], "bicubic", 2, out, block=BLOCK, resume=True)


def test_a_worker_killed_mid_run_still_writes_every_chunk(client, slide, whole, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    killed = []

    def progress(done, total, what):
        if not killed:
            killed.append(kill_busy_worker(client))

    report = upscale_large(client, slide[0], "vdsr", 2, out, block=32, skip_background=False, output_dtype="float32", progress=progress)
    assert killed and report.computed == report.blocks == 12
    assert np.abs(level0(out) - whole).max() <= 1e-4


def test_resume_after_the_whole_command_was_killed_redoes_no_finished_chunk(client, slide, tmp_path):
    out = tmp_path / "sr.ome.zarr"
    command = [sys.executable, "-m", "microsr_core", "upscale-large", str(slide[0]), "--method", "vdsr", "--scale", "2",
               "--out", str(out), "--block", "32", "--workers", "1", "--keep-background"]
    process = subprocess.Popen(command, cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)}, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = out / ".microsr-done" / "0"
    deadline = time.monotonic() + 120
    while not (markers.is_dir() and any(markers.iterdir())) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the command, its cluster and its worker
    process.wait()
    before = {p.name: p.stat().st_mtime_ns for p in markers.iterdir()}
    assert 1 <= len(before) < 12
    report = upscale_large(client, slide[0], "vdsr", 2, out, block=32, resume=True, skip_background=False)
    assert report.skipped == len(before) and report.computed == 12 - len(before)
    assert all((markers / name).stat().st_mtime_ns == mtime for name, mtime in before.items())
    assert len(list(markers.iterdir())) == 12


#: Run in a fresh process: upscale-large from the command line on a cluster of one worker, then
#: what the command's process (the client) and the worker imported.
CLIENT_AND_WORKER_IMPORTS = """
import json, sys
from distributed import Client, LocalCluster
from microsr_core.cli import main

def imported():
    return {name: name in sys.modules for name in ("torch", "microsr_core.comparison")}

with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
    status = main(["upscale-large", sys.argv[1], "--method", "vdsr", "--scale", "2", "--out", sys.argv[2],
                   "--block", "48", "--keep-background", "--scheduler", cluster.scheduler_address])
    client_imported = imported()
    with Client(cluster) as client:
        worker_imported = next(iter(client.run(imported).values()))
print(json.dumps({"status": status, "client": client_imported, "worker": worker_imported}))
"""


def test_the_command_is_a_torch_free_client_and_its_workers_leave_comparison_out(slide, whole, tmp_path):
    """torch is about 0.3 GiB of a process: only the workers import it; and they import only what
    their tasks run (the comparison wing is ~500 modules more in each)."""
    out = tmp_path / "sr.ome.zarr"
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "MICROSR_HOME": str(tmp_path / "home"), "MICROSR_CPU_BACKEND": "pytorch"}
    done = subprocess.run([sys.executable, "-c", CLIENT_AND_WORKER_IMPORTS, str(slide[0]), str(out)], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"status": 0, "client": {"torch": False, "microsr_core.comparison": False},
                     "worker": {"torch": True, "microsr_core.comparison": False}}
    # 8-bit output, blended straight into uint8 in each block's task: the untiled result, rounded
    # (a block's float result differs from it by at most 1e-4, which moves a value across a rounding edge at most)
    assert level0(out).dtype == np.uint8
    assert np.abs(level0(out).astype(np.float32) - np.round(whole * 255)).max() <= 1


def test_each_pyramid_level_is_the_rounded_2x2_mean_of_the_one_above(client, slide, tmp_path):
    """Averaged half a chunk of rows at a time (bounded memory): 80-px chunks of the 96-row level 1
    are made of bands of 40, 40 and 16 rows; the 2×2 mean of 8-bit values is exact in float32."""
    out = tmp_path / "sr.ome.zarr"
    report = upscale_large(client, slide[0], "bicubic", 2, out, block=BLOCK)
    levels = [zarr.open_array(f"{out}/{index}", mode="r")[:].astype(np.float64) for index in range(report.levels)]
    assert report.levels == 3 and levels[1].shape == (3, 96, 128)
    for above, level in zip(levels, levels[1:]):
        padded = np.pad(above, ((0, 0), (0, above.shape[1] % 2), (0, above.shape[2] % 2)), mode="edge")
        mean = padded.reshape(3, level.shape[1], 2, level.shape[2], 2).mean(axis=(2, 4))
        assert np.array_equal(level, np.round(mean))


def test_weights_reading_capture_maps_get_the_whole_images_maps_in_every_block(slide, tmp_path, monkeypatch):
    """A separate cluster: its workers must see the conditioned weights (MICROSR_WEIGHTS at their start)."""
    from safetensors.torch import load_file, save_file

    from microsr_core.imaging.capture_condition import estimate_condition
    from microsr_core.models.weights import sha256_of, update_card
    from microsr_core.scale_out.cluster import open_client
    from tests.helpers import publish_random

    weights = tmp_path / "weights"
    publish_random(weights, "vdsr_x2_maps", "vdsr", "VDSR", (2,), depth=3, channels=8, conditions=2)
    state = load_file(str(weights / "vdsr_x2_maps.safetensors"))
    state["condition.weight"] = state["condition.weight"] * 40  # maps that matter: another block estimate would show
    save_file(state, str(weights / "vdsr_x2_maps.safetensors"))
    update_card("vdsr_x2_maps", {"sha256": sha256_of(weights / "vdsr_x2_maps.safetensors")}, weights)
    monkeypatch.setenv("MICROSR_WEIGHTS", str(weights))
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MICROSR_CPU_BACKEND", "pytorch")
    whole = upscale(slide[1], "vdsr", 2, tile=0, precision="fp32")
    block = upscale(slide[1][:40, :40], "vdsr", 2, tile=0, precision="fp32")  # a block's own estimate: other maps
    assert whole.capture_maps != block.capture_maps and whole.capture_maps.noise == estimate_condition(slide[1]).noise
    with open_client(workers=1, threads=1, memory_limit="1GiB") as own:
        out = tmp_path / "sr.ome.zarr"
        upscale_large(own, slide[0], "vdsr", 2, out, block=BLOCK, skip_background=False, output_dtype="float32", precision="fp32")
    assert np.abs(level0(out) - whole.image).max() <= 1e-4
