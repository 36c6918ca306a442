"""Scale-out benchmark: a large OME-TIFF block by block, and upscale-batch over many fields, on Dask.

    python bench/scale_out.py [--size 8192] [--block 1024] [--fields 100] [--field 64x80]
                              [--workers 1,2] [--faults] [--data ../shared/data/bccd/images] [--out F.md]
                              [--lr-kind bicubic|real] [--baseline-size 2048] [--tile N]

(a) ``--size`` N: an N×N RGB OME-TIFF (the sample micrograph tiled, 512-px tiles, a 2× pyramid)
super-resolved ×2 by VDSR with ``upscale-large`` at each ``--workers`` count (1 thread each);
peak memory of the client (this process) and of its children (nannies and workers, summed),
sampled every 0.2 s; throughput (LR megapixels per second per
core) against the single-image path (:func:`microsr_core.upscale` on the whole image in this
process, torch on one thread); a 160-px cut-out of the output against ``upscale`` on the same
cut-out with its margin (float32 output, so the check is ≤ 1e-4 and not a rounding level).
(b) ``--fields`` crops of ``--field`` LR pixels from the BCCD fields, ``upscale-batch`` with
VDSR ×2 at each worker count: seconds and images per second. ``--faults`` adds, with the
largest worker count, a run in which one worker process is SIGKILLed after the first outputs,
and a run of the command that is SIGKILLed whole, then resumed: outputs made again are counted.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


class PeakMemory(threading.Thread):
    """Samples the resident memory of this process (the client) and the summed resident memory of
    its descendants (the Dask scheduler's nannies and workers), every 0.2 s; keeps the peaks."""

    def __init__(self):
        super().__init__(daemon=True)
        self.client = self.cluster = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stopped.wait(0.2):
            total = 0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.client, self.cluster = max(self.client, me.memory_info().rss), max(self.cluster, total)

    def stop(self) -> tuple[float, float]:
        """(client, cluster) peaks in GiB."""
        self.stopped.set()
        self.join()
        return self.client / 2**30, self.cluster / 2**30


def make_slide(path: Path, size: int) -> None:
    """An N×N RGB OME-TIFF written tile by tile (never whole in memory), with a 2× level."""
    import tifffile

    from microsr_core.imaging.io import sample_image

    sample = np.round(sample_image() * 255).astype(np.uint8)

    def tiles(side):
        for top in range(0, side, 512):
            for left in range(0, side, 512):
                yield np.ascontiguousarray(np.tile(sample, (2, 2, 1))[top % 512 : top % 512 + 512, left % 512 : left % 512 + 512][: side - top, : side - left])

    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(tiles(size), shape=(size, size, 3), dtype=np.uint8, tile=(512, 512), subifds=1,
                  metadata={"axes": "YXS", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
        tif.write(tiles(size // 2), shape=(size // 2, size // 2, 3), dtype=np.uint8, tile=(512, 512), subfiletype=1)


def level0(path: Path):
    """The slide's full-resolution level as a lazy Zarr array (read window by window)."""
    import tifffile
    import zarr

    return zarr.open(tifffile.imread(path, aszarr=True, level=0), mode="r")


def single_image_rate(path: Path, side: int, lr_kind: str) -> tuple[float, float]:
    """LR megapixels per second of ``upscale`` on one core on the image's top-left ``side``² (the
    whole of a large image would not fit in memory: the rate per pixel does not depend on the size
    once it is many tiles), and the peak memory."""
    import torch

    from microsr_core import upscale

    torch.set_num_threads(1)  # this benchmark's own process: the single-image baseline per core
    image = np.asarray(level0(path)[:side, :side]).astype(np.float32) / 255.0
    monitor = PeakMemory()
    monitor.start()
    start = time.perf_counter()
    upscale(image, "vdsr", 2, output_dtype=np.uint8, lr_kind=lr_kind)
    seconds = time.perf_counter() - start
    return image.shape[0] * image.shape[1] / 1e6 / seconds, monitor.stop()[0]


def large_case(path: Path, workers: int, block: int, work: Path, lr_kind: str, tile: int | None) -> dict:
    from microsr_core.scale_out.cluster import open_client
    from microsr_core.scale_out.large import upscale_large

    monitor = PeakMemory()
    monitor.start()
    out = work / f"large_{workers}.ome.zarr"
    with open_client(workers, 1) as client:
        start = time.perf_counter()
        report = upscale_large(client, path, "vdsr", 2, out, block=block, output_dtype="float32", lr_kind=lr_kind, tile=tile)
        seconds = time.perf_counter() - start
    client_peak, cluster_peak = monitor.stop()
    return {"workers": workers, "seconds": seconds, "client_gib": client_peak, "cluster_gib": cluster_peak, "blocks": report.blocks, "out": out}


def cutout_error(path: Path, out: Path, lr_kind: str, margin: int = 16, side: int = 160) -> float:
    """Max |output − upscale(cut-out with margin)| over a cut-out in the middle of the image."""
    import zarr

    from microsr_core import upscale

    store = level0(path)
    middle = store.shape[0] // 2 - side // 2
    window = np.asarray(store[middle - margin : middle + side + margin, middle - margin : middle + side + margin]).astype(np.float32) / 255
    expected = upscale(window, "vdsr", 2, tile=0, lr_kind=lr_kind).image[2 * margin : -2 * margin, 2 * margin : -2 * margin]
    got = np.moveaxis(zarr.open_array(f"{out}/0", mode="r")[:, 2 * middle : 2 * (middle + side), 2 * middle : 2 * (middle + side)], 0, -1)
    return float(np.abs(got - expected).max())


def make_fields(source: Path, count: int, size: tuple[int, int], folder: Path) -> None:
    """``count`` LR crops (bicubic ×2 downscales of BCCD field crops), 4 per field."""
    from microsr_core.imaging.degrade import Degradation
    from microsr_core.imaging.io import load_image, save_image

    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(source.glob("*.jpg"))
    for index in range(count):
        field = load_image(files[index // 4]).pixels
        top, left = 60 + (index % 2) * 2 * size[0], 80 + (index % 4 // 2) * 2 * size[1]
        hr = field[top : top + 2 * size[0], left : left + 2 * size[1]]
        save_image(folder / f"{files[index // 4].stem}_{index % 4}.png", Degradation("bicubic", 2).apply(hr))


def batch_case(fields: Path, workers: int, out: Path, kill_worker: bool = False) -> dict:
    from microsr_core.scale_out.batch import run_batch
    from microsr_core.scale_out.cluster import open_client

    killed = []
    with open_client(workers, 1) as client:
        def progress(done, total, record):
            if kill_worker and not killed and done >= 5:
                busy = next(addr for addr, keys in client.processing().items() if keys)
                pid = client.run(os.getpid, workers=[busy])[busy]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        start = time.perf_counter()
        report = run_batch(client, fields, ["vdsr"], 2, out, progress=progress)
        seconds = time.perf_counter() - start
    return {"workers": workers, "seconds": seconds, "done": report.count("done"), "killed": killed}


def killed_command_then_resume(fields: Path, workers: int, out: Path, after: int) -> dict:
    """Run the CLI, SIGKILL it (process group: client, cluster, workers) after ``after`` outputs, resume."""
    command = [sys.executable, "-m", "microsr_core", "upscale-batch", str(fields), "--methods", "vdsr", "--scale", "2",
               "--out", str(out), "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=PROJECT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(out.glob("*.png"))) < after and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    resumed = subprocess.run([*command, "--resume"], cwd=PROJECT, capture_output=True, text=True)
    remade = sum((out / name).stat().st_mtime_ns != mtime for name, mtime in before.items())
    return {"finished_before_kill": len(before), "remade": remade, "total": len(list(out.glob("*.png"))),
            "resume_says": resumed.stdout.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--fields", type=int, default=100)
    parser.add_argument("--field", default="64x80")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--lr-kind", default="bicubic", help="the VDSR weights: bicubic, or real (which run bf16 where the CPU has it)")
    parser.add_argument("--tile", type=int, default=None, help="upscale-large's LR tile side inside a block (default: automatic)")
    parser.add_argument("--baseline-size", type=int, default=2048, help="side of the single-image path's crop (at most --size)")
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--data", default=str(PROJECT.parent / "shared" / "data" / "bccd" / "images"))
    parser.add_argument("--out", default=None, help="append the Markdown lines here")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    lines = [f"- command: `python bench/scale_out.py {' '.join(sys.argv[1:])}`", f"- machine: {os.cpu_count()} cores"]
    with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp:
        work = Path(tmp)
        if args.size:
            lines += large_lines(args, counts, work)
        if args.fields:
            lines += batch_lines(args, counts, work)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(text)


def large_lines(args, counts: list[int], work: Path) -> list[str]:
    """The large-image cases first (so the client's peak is not the single-image run's), then the baseline."""
    slide = work / "slide.ome.tif"
    make_slide(slide, args.size)
    cases = [large_case(slide, workers, args.block, work, args.lr_kind, args.tile) for workers in counts]
    side = min(args.size, args.baseline_size)
    rate, single_peak = single_image_rate(slide, side, args.lr_kind)
    lines = [f"- (a) {args.size}x{args.size} RGB OME-TIFF, VDSR x2 ({args.lr_kind} weights), blocks of {args.block}, tiles {args.tile or 'automatic'}, float32 OME-Zarr out",
             f"  - single-image path (`upscale` on a {side}x{side} crop, 1 torch thread): {rate:.4f} LR MP/s per core, peak {single_peak:.2f} GiB"]
    for case in cases:
        per_core = args.size**2 / 1e6 / case["seconds"] / case["workers"]
        lines.append(f"  - upscale-large, {case['workers']} worker(s) x 1 thread: {case['seconds']:.1f} s, {per_core:.4f} LR MP/s per core "
                     f"({per_core / rate:.2f}x the single-image path); peak memory: client {case['client_gib']:.2f} GiB, "
                     f"cluster processes {case['cluster_gib']:.2f} GiB; {case['blocks']} blocks")
    lines.append(f"  - cut-out (160 px, 16 px margin) vs `upscale` on it: max |diff| {cutout_error(slide, cases[-1]['out'], args.lr_kind):.2e}")
    return lines


def batch_lines(args, counts: list[int], work: Path) -> list[str]:
    height, width = (int(v) for v in args.field.split("x"))
    fields = work / "fields"
    make_fields(Path(args.data), args.fields, (height, width), fields)
    lines = [f"- (b) upscale-batch, {args.fields} BCCD crops of {width}x{height} LR px, VDSR x2"]
    for workers in counts:
        case = batch_case(fields, workers, work / f"batch_{workers}")
        lines.append(f"  - {workers} worker(s) x 1 thread: {case['seconds']:.1f} s, {args.fields / case['seconds']:.2f} images/s, {case['done']} outputs")
    if args.faults:
        case = batch_case(fields, counts[-1], work / "batch_killed", kill_worker=True)
        lines.append(f"  - a worker SIGKILLed after 5 outputs (pid {case['killed'][0]}): {case['done']} of {args.fields} outputs made")
        resumed = killed_command_then_resume(fields, counts[-1], work / "batch_resumed", args.fields // 3)
        lines.append(f"  - the command SIGKILLed after {resumed['finished_before_kill']} outputs, then `--resume`: "
                     f"{resumed['remade']} finished outputs made again, {resumed['total']} in all ({resumed['resume_says']})")
    return lines


if __name__ == "__main__":
    main()
