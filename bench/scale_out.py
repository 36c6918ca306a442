"""Scale-out benchmark: a large OME-TIFF block by block, and upscale-batch over many fields, on Dask.

    python bench/scale_out.py [--size 8192] [--block 1024] [--fields 100] [--field 64x80]
                              [--workers 1,2] [--faults] [--data ../shared/data/bccd/images] [--out F.md]
                              [--lr-kind bicubic|real] [--baseline-size 2048] [--tile N] [--stop-after N]
                              [--output-dtype float32|uint8]

(a) ``--size`` N: an N×N RGB OME-TIFF (the sample micrograph tiled, 512-px tiles, a 2× pyramid)
super-resolved ×2 by VDSR with ``upscale-large`` at each ``--workers`` count (1 thread each);
peak memory as PSS summed over the client (this process) and its children (workers) at one
instant, sampled every 0.2 s, with each process's share at that peak; throughput (LR megapixels per second per
core) against the single-image path (:func:`microsr_core.upscale` on the whole image in this
process, torch on one thread), per wall-clock second and per CPU second (user + system of the
client and its workers: on a machine other jobs share, a wall-clock rate measures them too); a 160-px cut-out of the output against ``upscale`` on the same
cut-out with its margin (float32 output: ≤ 1e-4, not a rounding level; ``--output-dtype uint8``,
the command's own default for an 8-bit slide: in levels, against ``upscale`` rounded to 8 bit as it saves it).
``--stop-after N`` ends each run after N finished blocks (memory per worker is one block's,
whatever the image; an 8k run is 64 blocks, most of an hour of fp32 VDSR on 2 AVX2 cores): the
rates count those N blocks (a block still running on another worker counts as CPU time spent for
nothing, so they are lower bounds), and the cut-out check, in the middle of the image, is left out.
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


def pss(pid: int) -> int:
    """The proportional set size of process ``pid`` in bytes (0 once it has gone): each page it
    shares with n processes counts 1/n, so a sum over processes counts every page once (summed
    RSS counted libtorch's shared pages once per worker)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakMemory(threading.Thread):
    """Samples, every 0.2 s and at one instant, the PSS of this process (the client) and of each
    of its descendants (the workers the Dask nannies start); keeps the peak of their sum and
    each process's share at that peak."""

    def __init__(self):
        super().__init__(daemon=True)
        self.total = 0
        self.shares: dict[str, int] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stopped.wait(0.2):
            shares = {"client": pss(me.pid)}
            for child in me.children(recursive=True):
                shares[f"{child.pid}"] = pss(child.pid)
            if sum(shares.values()) > self.total:
                self.total, self.shares = sum(shares.values()), shares

    def stop(self) -> tuple[float, dict[str, float]]:
        """The peak of the summed PSS and each process's share at that instant, in GiB (the
        client first, then its children by pid, those under 10 MiB left out: the semaphore tracker)."""
        self.stopped.set()
        self.join()
        shares = {name: size / 2**30 for name, size in self.shares.items() if size >= 10 * 2**20}
        return self.total / 2**30, shares


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


def cpu_seconds(processes) -> float:
    """User + system CPU seconds of the psutil ``processes`` so far (a process gone counts 0)."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def single_image_rate(path: Path, side: int, lr_kind: str) -> dict:
    """LR megapixels per wall-clock and per CPU second of ``upscale`` on one core on the image's
    top-left ``side``² (the whole of a large image would not fit in memory: the rate per pixel does
    not depend on the size once it is many tiles), and the peak memory."""
    import torch

    from microsr_core import upscale

    torch.set_num_threads(1)  # this benchmark's own process: the single-image baseline per core
    image = np.asarray(level0(path)[:side, :side]).astype(np.float32) / 255.0
    monitor = PeakMemory()
    monitor.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    upscale(image, "vdsr", 2, output_dtype=np.uint8, lr_kind=lr_kind)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    megapixels = image.shape[0] * image.shape[1] / 1e6
    return {"rate": megapixels / seconds, "cpu_rate": megapixels / cpu, "peak_gib": monitor.stop()[1]["client"]}


class Stopped(Exception):
    """``--stop-after`` blocks are finished: the run is cut short on purpose."""


def stopping_after(blocks: int | None):
    """upscale-large's progress callback that raises :class:`Stopped` once ``blocks`` are done (None: never)."""
    def progress(done: int, _total: int, _what: str) -> None:
        if blocks is not None and done >= blocks:
            raise Stopped

    return progress


def large_case(path: Path, workers: int, work: Path, args) -> dict:
    """upscale-large of ``path`` on ``workers`` processes with the command line's ``args``: time, CPU, peak memory."""
    import psutil

    from microsr_core.scale_out.cluster import open_client
    from microsr_core.scale_out.large import upscale_large

    monitor = PeakMemory()
    monitor.start()
    out = work / f"large_{workers}.ome.zarr"
    with open_client(workers, 1) as client:
        processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
        start, cpu_start, client_start = time.perf_counter(), cpu_seconds(processes), cpu_seconds(processes[:1])
        try:
            done = upscale_large(client, path, "vdsr", 2, out, block=args.block, output_dtype=args.output_dtype, lr_kind=args.lr_kind,
                                 tile=args.tile, progress=stopping_after(args.stop_after)).blocks
        except Stopped:
            done = args.stop_after
        seconds, cpu = time.perf_counter() - start, cpu_seconds(processes) - cpu_start
        client_cpu = cpu_seconds(processes[:1]) - client_start
    total, shares = monitor.stop()
    megapixels = min(done * args.block**2, path_pixels(path)) / 1e6
    return {"workers": workers, "seconds": seconds, "cpu": cpu, "client_cpu": client_cpu, "total_gib": total, "shares_gib": shares, "blocks": done,
            "megapixels": megapixels, "out": out, "client_torch": "torch" in sys.modules}


def path_pixels(path: Path) -> int:
    height, width = level0(path).shape[:2]
    return height * width


def cutout_error(path: Path, out: Path, lr_kind: str, margin: int = 16, side: int = 160) -> float:
    """Max |output − upscale(cut-out with margin)| over a cut-out in the middle of the image (in levels for a uint8 output)."""
    import zarr

    from microsr_core import upscale

    store = level0(path)
    middle = store.shape[0] // 2 - side // 2
    window = np.asarray(store[middle - margin : middle + side + margin, middle - margin : middle + side + margin]).astype(np.float32) / 255
    expected = upscale(window, "vdsr", 2, tile=0, lr_kind=lr_kind).image[2 * margin : -2 * margin, 2 * margin : -2 * margin]
    got = np.moveaxis(zarr.open_array(f"{out}/0", mode="r")[:, 2 * middle : 2 * (middle + side), 2 * middle : 2 * (middle + side)], 0, -1)
    if got.dtype == np.uint8:  # what `upscale` writes for an 8-bit input: the same rounding, compared in levels
        expected = np.round(np.clip(expected, 0, 1) * 255)
    return float(np.abs(got.astype(np.float32) - expected).max())


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
    parser.add_argument("--stop-after", type=int, default=None, help="end each upscale-large run after this many blocks")
    parser.add_argument("--output-dtype", default="float32", choices=("float32", "uint8"), help="the OME-Zarr's (float32: the cut-out check)")
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
    cases = [large_case(slide, workers, work, args) for workers in counts]
    side = min(args.size, args.baseline_size)
    single = single_image_rate(slide, side, args.lr_kind)
    lines = [f"- (a) {args.size}x{args.size} RGB OME-TIFF, VDSR x2 ({args.lr_kind} weights), blocks of {args.block}, tiles {args.tile or 'automatic'}, {args.output_dtype} OME-Zarr out",
             f"  - single-image path (`upscale` on a {side}x{side} crop, 1 torch thread): {single['rate']:.4f} LR MP/s per core, "
             f"{single['cpu_rate']:.4f} LR MP per CPU second, peak {single['peak_gib']:.2f} GiB"]
    for case in cases:
        per_core, per_cpu = case["megapixels"] / case["seconds"] / case["workers"], case["megapixels"] / case["cpu"]
        shares = ", ".join(f"{'client' if name == 'client' else 'pid ' + name} {size:.2f}" for name, size in case["shares_gib"].items())
        lines.append(f"  - upscale-large, {case['workers']} worker(s) x 1 thread: {case['seconds']:.1f} s, {per_core:.4f} LR MP/s per core "
                     f"({per_core / single['rate']:.2f}x the single-image path), {per_cpu:.4f} LR MP per CPU second "
                     f"({per_cpu / single['cpu_rate']:.2f}x; {case['client_cpu']:.0f} of its {case['cpu']:.0f} CPU seconds in the client, "
                     f"which hosts the scheduler and this benchmark's memory sampler; the workers' alone "
                     f"{(case['megapixels'] / (case['cpu'] - case['client_cpu'])) / single['cpu_rate']:.2f}x); peak memory (PSS, summed at one instant) {case['total_gib']:.2f} GiB: "
                     f"{shares} GiB; client imported torch: {'yes' if case['client_torch'] else 'no'}; {case['blocks']} blocks")
    if args.stop_after is None:
        unit = "" if args.output_dtype == "float32" else " levels of 255 (both rounded to 8 bit)"
        lines.append(f"  - cut-out (160 px, 16 px margin) vs `upscale` on it: max |diff| {cutout_error(slide, cases[-1]['out'], args.lr_kind):.2e}{unit}")
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
