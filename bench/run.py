"""Speed benchmark of every SR method: wall time, throughput, memory, roofline fraction.

    python bench/run.py [--device auto] [--scales 2,4] [--sizes 256x256,640x480,2048x2048]
                        [--repeats 3] [--budget 120] [--huge 8192] [--out docs/benchmarks.md]

Every case runs in a fresh subprocess so that its peak resident memory is its own. Per case:
median wall time of ``--repeats`` runs after one warm-up, output megapixels per second, peak
process memory (and peak CUDA memory on a GPU). A roofline probe times one large 64→64 3×3
convolution alone on the same device; each CNN method's achieved convolution throughput (its
FLOPs, counted by ``torch.utils.flop_counter``, over its time) is reported as a fraction of it.
A reference run of VDSR in plain PyTorch (fp32, NCHW, untiled, model built per call) gives the
baseline that speed-ups are measured against in the same run. Cases whose estimated time
exceeds ``--budget`` seconds are listed as skipped, with the estimate.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _image(height: int, width: int, as_uint8: bool = False):
    """The sample micrograph tiled to the size (float32 in [0, 1], or uint8)."""
    import numpy as np
    from skimage import data

    sample = data.immunohistochemistry() if as_uint8 else data.immunohistochemistry().astype(np.float32) / 255
    reps = (-(-height // sample.shape[0]), -(-width // sample.shape[1]), 1)
    return np.ascontiguousarray(np.tile(sample, reps)[:height, :width])


def _flops_per_output_pixel(method: str, scale: int, device: str) -> float:
    """Convolution FLOPs per output pixel, counted on a small tile."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from microsr_core.inference import upscale

    lr = _image(48, 48)
    with FlopCounterMode(display=False) as counter:
        upscale(lr, method, scale, device=device, tile=0)
    return counter.get_total_flops() / (48 * scale) ** 2


def run_case(method: str, scale: int, height: int, width: int, device: str, repeats: int, tile: int | None) -> dict:
    """One case, in this process: returns timings and memory as a dict."""
    import numpy as np
    import torch

    from microsr_core.inference import get_method, upscale

    # Huge images travel as uint8 in and out, as the command line does for 8-bit files: a
    # float32 copy of a 16384² output alone would be 3.2 GB.
    huge = height * width > 16_000_000
    dtype = np.uint8 if huge else np.float32
    lr = _image(height, width, as_uint8=huge)
    if method == "vdsr-reference":
        return _reference_case(scale, lr, device, repeats)
    progress_calls = []
    get_method(method, device)
    upscale(lr[:64, :64], method, scale, device=device, output_dtype=dtype)  # warm-up (first-call costs)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = upscale(lr, method, scale, device=device, tile=tile, output_dtype=dtype, progress=lambda d, t: progress_calls.append((d, t)))
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    out = {
        "method": method, "scale": scale, "size": f"{width}x{height}", "seconds": seconds,
        "mp_per_s": height * width * scale * scale / 1e6 / seconds, "peak_rss_mb": _peak_rss_mb(),
        "tiles": result.tiles, "device": result.device, "progress_reports": len(progress_calls),
    }
    if result.device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _reference_case(scale: int, lr, device: str, repeats: int) -> dict:
    """Plain PyTorch VDSR: fp32, NCHW, untiled, weights loaded on every call, no caching."""
    import numpy as np
    import torch

    from microsr_core.color import rgb_to_ycbcr, ycbcr_to_rgb
    from microsr_core.degrade import bicubic_upscale
    from microsr_core.device import resolve_device
    from microsr_core.weights import build_model

    dev = resolve_device(device)

    def once():
        net, _ = build_model("vdsr")
        net = net.to(dev)
        ycbcr = bicubic_upscale(rgb_to_ycbcr(lr), scale)
        with torch.no_grad():
            y = net(torch.from_numpy(np.ascontiguousarray(ycbcr[:, :, 0]))[None, None].to(dev))
        ycbcr[:, :, 0] = y[0, 0].cpu().numpy()
        return np.clip(ycbcr_to_rgb(ycbcr), 0, 1)

    once()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    height, width = lr.shape[:2]
    return {"method": "vdsr-reference", "scale": scale, "size": f"{width}x{height}", "seconds": seconds,
            "mp_per_s": height * width * scale * scale / 1e6 / seconds, "peak_rss_mb": _peak_rss_mb(), "tiles": 1, "device": str(dev)}


def low_precision_dtype(device: str):
    """The reduced precision a speed-up would use: bfloat16 on the CPU, float16 on CUDA."""
    import torch

    from microsr_core.device import resolve_device

    return torch.float16 if resolve_device(device).type == "cuda" else torch.bfloat16


def roofline(device: str, dtype=None) -> float:
    """GFLOP/s of one 64→64 3×3 convolution on a 1×64×512×512 input (best of 5), fp32 by default."""
    import torch

    from microsr_core.device import resolve_device

    dev = resolve_device(device)
    dtype = dtype or torch.float32
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dev, dtype).to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, 512, 512, device=dev, dtype=dtype).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(6):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            conv(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
    return 2 * 64 * 64 * 9 * 512 * 512 / best / 1e9


def _subprocess(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--methods", default=None, help="comma-separated (default: every method with weights)")
    parser.add_argument("--scales", default="2,4")
    parser.add_argument("--sizes", default="256x256,640x480,2048x2048", help="LR sizes WxH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=120.0, help="skip cases estimated to take longer (seconds per run)")
    parser.add_argument("--huge", type=int, default=8192, help="side of the LR image of the tiled huge run (0: skip)")
    parser.add_argument("--huge-method", default="bicubic")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--case", nargs=5, metavar=("METHOD", "SCALE", "W", "H", "TILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if args.case:
        method, scale, width, height, tile = args.case
        result = run_case(method, int(scale), int(height), int(width), args.device, args.repeats, None if tile == "auto" else int(tile))
        print(json.dumps(result))
        return 0

    import torch

    from microsr_core.device import resolve_device
    from microsr_core.errors import WeightsError
    from microsr_core.inference import get_method
    from microsr_core.registry import method_names

    device = str(resolve_device(args.device))
    methods = args.methods.split(",") if args.methods else []
    if not methods:
        for name in method_names(include_promoted=False):
            try:
                get_method(name, device)
                methods.append(name)
            except WeightsError:
                pass
    peak = roofline(device)
    # MicroSR runs fp32: reduced precision would pay only if this probe beat the fp32 one.
    low_dtype = low_precision_dtype(device)
    low_peak = (str(low_dtype).removeprefix("torch."), roofline(device, low_dtype))
    scales = [int(s) for s in args.scales.split(",")]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    rows, skipped = [], []
    for scale in scales:
        # Throughput of each method at this scale, measured on the smallest size, drives the skip estimates.
        rate: dict[str, float] = {}
        for width, height in sizes:
            for method in methods + (["vdsr-reference"] if "vdsr" in methods else []):
                estimate = width * height * scale * scale / 1e6 / rate[method] if method in rate else 0.0
                if estimate * (args.repeats + 1) > args.budget:
                    skipped.append(f"{method} x{scale} {width}x{height}: estimated {estimate:.0f} s per run")
                    continue
                row = _subprocess(["--case", method, str(scale), str(width), str(height), "auto", "--device", device, "--repeats", str(args.repeats), "--threads", str(args.threads)])
                if "error" in row:
                    skipped.append(f"{method} x{scale} {width}x{height}: {row['error']}")
                    continue
                rate.setdefault(method, row["mp_per_s"])
                if method != "bicubic":
                    flops = _flops_per_output_pixel("vdsr" if method == "vdsr-reference" else method, scale, device)
                    row["conv_fraction"] = flops * row["mp_per_s"] * 1e6 / (peak * 1e9)
                rows.append(row)
                print(json.dumps(row), flush=True)
    huge = None
    if args.huge:
        huge = _subprocess(["--case", args.huge_method, "2", str(args.huge), str(args.huge), "auto", "--device", device, "--repeats", "1", "--threads", str(args.threads)])
        print(json.dumps(huge), flush=True)
    write_report(Path(args.out), rows, skipped, huge, peak, low_peak, device, " ".join(sys.argv))
    return 0


def write_report(path: Path, rows, skipped, huge, peak, low_peak, device, command) -> None:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else "none"
    lines = [
        f"## {device.upper()} run, {datetime.date.today().isoformat()}",
        "",
        f"- machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); GPU: {gpu}",
        f"- command: `python bench/run.py {' '.join(command.split()[1:])}`",
        f"- roofline probe (64→64 3×3 conv, 1×64×512×512, fp32 channels-last): **{peak:.1f} GFLOP/s**",
        f"- the same probe in {low_peak[0]}: {low_peak[1]:.1f} GFLOP/s ({low_peak[1] / peak:.2f}× fp32)",
        "",
        "| method | scale | LR size | median s | output MP/s | peak RSS MB | conv throughput / roofline | tiles |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        fraction = f"{r['conv_fraction']:.2f}" if "conv_fraction" in r else "—"
        lines.append(f"| {r['method']} | x{r['scale']} | {r['size']} | {r['seconds']:.3f} | {r['mp_per_s']:.2f} | {r['peak_rss_mb']:.0f} | {fraction} | {r['tiles']} |")
    if huge:
        if "error" in huge:
            lines += ["", f"Huge tiled run failed: {huge['error']}"]
        else:
            lines += ["", f"Huge tiled run: {huge['method']} x2 on {huge['size']} LR: {huge['seconds']:.1f} s, peak RSS {huge['peak_rss_mb']:.0f} MB, {huge['tiles']} tiles."]
    if skipped:
        lines += ["", "Skipped (over the time budget or failed):", ""] + [f"- {s}" for s in skipped]
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = path.read_text() if path.exists() else "# Benchmarks\n\nProduced by `bench/run.py`; newest run first.\n"
    head, _, rest = previous.partition("\n## ")
    path.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + "\n" + ("\n## " + rest if rest else ""))


if __name__ == "__main__":
    sys.exit(main())
