"""Speed benchmark of every SR method: wall time, throughput, memory, roofline fraction, precision.

    python bench/run.py [--device auto] [--precision auto] [--scales 2,4] [--sizes 256x256,640x480,2048x2048]
                        [--repeats 3] [--budget 120] [--huge 8192] [--one-image 640x480x4]
                        [--out docs/benchmarks.md] [--json PATH]

Every case runs in a fresh subprocess so that its peak resident memory is its own. Per case:
median wall time of ``--repeats`` runs after one warm-up, output megapixels per second, peak
process memory (and peak CUDA memory on a GPU), and the precision the network ran in
(``--precision``, resolved by :mod:`microsr_core.models.precision`). The LR image is the sample
micrograph tiled to HR size and downscaled (MATLAB bicubic), so that a case run in reduced
precision also reports its Y-PSNR against that HR minus the same method's fp32 Y-PSNR
(``psnr_delta_vs_fp32``; HR over 16 MP is skipped, and those cases tile the sample at LR size).

A roofline probe times one large 64→64 3×3 convolution alone on the same device, in fp32 and
in bf16 (and fp16 on CUDA); each CNN method's achieved convolution throughput (its FLOPs,
counted by ``torch.utils.flop_counter``, over its time) is reported as a fraction of the probe
in the precision it ran in. A reference run of VDSR in plain PyTorch (fp32, NCHW, untiled,
model built per call) gives the baseline that VDSR's speed-up is measured against in the same
run. ``--backends pytorch,openvino`` times each network in both CPU runtimes
(:mod:`microsr_core.models.runtime`; ``auto`` is what the app uses). ``--one-image`` times every
method on one image of that size and scale and reports the total (fastest backend). Cases whose estimated time exceeds ``--budget`` seconds are listed as skipped, with the
estimate. ``--json`` writes everything as
``{"machine": {...}, "probe": {...}, "cases": [{...}], "one_image": {...}}``.
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


#: Largest HR (in pixels) a case makes to measure PSNR against; bigger cases skip the PSNR.
MAX_HR_PIXELS = 16_000_000


def _image(height: int, width: int, as_uint8: bool = False):
    """The sample micrograph tiled to the size (float32 in [0, 1], or uint8)."""
    import numpy as np
    from skimage import data

    sample = data.immunohistochemistry() if as_uint8 else data.immunohistochemistry().astype(np.float32) / 255
    reps = (-(-height // sample.shape[0]), -(-width // sample.shape[1]), 1)
    return np.ascontiguousarray(np.tile(sample, reps)[:height, :width])


def _lr_and_hr(height: int, width: int, scale: int):
    """An LR image of the size and the HR it was made from (None when the HR would be too big)."""
    from microsr_core.imaging.degrade import Degradation

    if height * width * scale * scale > MAX_HR_PIXELS:
        return _image(height, width), None
    hr = _image(height * scale, width * scale)
    return Degradation("bicubic", scale).apply(hr), hr


def _flops_per_output_pixel(method: str, scale: int, device: str) -> float:
    """Convolution FLOPs per output pixel, counted on a small tile."""
    from torch.utils.flop_counter import FlopCounterMode

    from microsr_core.models.inference import upscale

    lr = _image(48, 48)
    with FlopCounterMode(display=False) as counter:
        upscale(lr, method, scale, device=device, tile=0)
    return counter.get_total_flops() / (48 * scale) ** 2


def run_case(method: str, scale: int, height: int, width: int, device: str, repeats: int, tile: int | None, precision: str) -> dict:
    """One case, in this process: returns timings, memory and precision as a dict."""
    import numpy as np
    import torch

    from microsr_core.models.inference import get_method, upscale
    from microsr_core.imaging.metrics import psnr_y

    # Huge images travel as uint8 in and out, as the command line does for 8-bit files: a
    # float32 copy of a 16384² output alone would be 3.2 GB.
    huge = height * width > 16_000_000
    dtype = np.uint8 if huge else np.float32
    lr, hr = (_image(height, width, as_uint8=True), None) if huge else _lr_and_hr(height, width, scale)
    if method == "vdsr-reference":
        return _reference_case(scale, lr, hr, device, repeats)
    progress_calls = []
    get_method(method, device)
    upscale(lr[:64, :64], method, scale, device=device, output_dtype=dtype, precision=precision)  # warm-up (first-call costs)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = upscale(lr, method, scale, device=device, tile=tile, output_dtype=dtype, precision=precision,
                         progress=lambda d, t: progress_calls.append((d, t)))
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    out = {
        "method": method, "scale": scale, "lr_size": f"{width}x{height}", "median_s": seconds,
        "mp_per_s": height * width * scale * scale / 1e6 / seconds, "peak_rss_mb": _peak_rss_mb(),
        "tiles": result.tiles, "device": result.device, "precision": result.precision, "backend": result.backend,
        "progress_reports": len(progress_calls),
    }
    if result.device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if hr is not None:
        # After the timed runs and the memory readings: the fp32 run for the comparison is extra.
        exact = result if result.precision == "fp32" else upscale(lr, method, scale, device=device, tile=tile, precision="fp32")
        # An fp32 run is its own reference: 0 exactly (bicubic at x1 reproduces the HR, and inf - inf is nan).
        out["psnr_delta_vs_fp32"] = 0.0 if exact is result else psnr_y(result.image, hr, scale) - psnr_y(exact.image, hr, scale)
    return out


def _reference_case(scale: int, lr, hr, device: str, repeats: int) -> dict:
    """Plain PyTorch VDSR: fp32, NCHW, untiled, weights loaded on every call, no caching."""
    import numpy as np
    import torch

    from microsr_core.imaging.color import rgb_to_ycbcr, ycbcr_to_rgb
    from microsr_core.imaging.degrade import bicubic_upscale
    from microsr_core.models.device import resolve_device
    from microsr_core.models.weights import build_model

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
    out = {"method": "vdsr-reference", "scale": scale, "lr_size": f"{width}x{height}", "median_s": seconds,
           "mp_per_s": height * width * scale * scale / 1e6 / seconds, "peak_rss_mb": _peak_rss_mb(), "tiles": 1,
           "device": str(dev), "precision": "fp32", "backend": "pytorch-reference"}
    if hr is not None:
        out["psnr_delta_vs_fp32"] = 0.0  # it is the fp32 run
    return out


def roofline(device: str, precision: str = "fp32") -> float:
    """GFLOP/s of one 64→64 3×3 convolution on a 1×64×512×512 channels-last input (best of 5)."""
    import torch

    from microsr_core.models.device import resolve_device
    from microsr_core.models.precision import DTYPES

    dev = resolve_device(device)
    dtype = DTYPES[precision]
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


def probe(device: str) -> dict:
    """The roofline probe in fp32 and bf16 (and fp16 on CUDA), and what ``auto`` picks here."""
    from microsr_core.models.device import resolve_device
    from microsr_core.models.precision import cpu_probe, resolve_precision

    dev = resolve_device(device)
    result = {f"{p}_gflops": roofline(device, p) for p in ["fp32", "bf16"] + (["fp16"] if dev.type == "cuda" else [])}
    result["shape"] = "64->64 3x3 conv, 1x64x512x512, channels-last, best of 5"
    result["auto_precision"] = resolve_precision("auto", dev)
    if dev.type == "cpu":
        result["policy_probe"] = cpu_probe()
    return result


def machine(device: str) -> dict:
    import torch

    from microsr_core.models.precision import has_native_bf16

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "native_bf16": has_native_bf16(),
        "torch": torch.__version__, "device": device, "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "date": datetime.date.today().isoformat(),
    }


def _subprocess(args: list[str], backend: str = "auto") -> dict:
    env = {**os.environ, "MICROSR_CPU_BACKEND": backend}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.split("x"))
    return width, height


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16 (the networks'; the reference is always fp32)")
    parser.add_argument("--backends", default="auto", help="CPU backends to time each network in: auto, pytorch, openvino (comma-separated)")
    parser.add_argument("--methods", default=None, help="comma-separated (default: every method with weights)")
    parser.add_argument("--scales", default="2,4")
    parser.add_argument("--sizes", default="256x256,640x480,2048x2048", help="LR sizes WxH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=120.0, help="skip cases estimated to take longer (seconds per run)")
    parser.add_argument("--huge", type=int, default=8192, help="side of the LR image of the tiled huge run (0: skip)")
    parser.add_argument("--huge-method", default="bicubic")
    parser.add_argument("--one-image", default="640x480x4", help="WxHxSCALE: every method on one image, total time ('': skip)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--json", default=None, help="also write the machine, probe and cases as JSON here")
    parser.add_argument("--case", nargs=5, metavar=("METHOD", "SCALE", "W", "H", "TILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if args.case:
        method, scale, width, height, tile = args.case
        result = run_case(method, int(scale), int(height), int(width), args.device, args.repeats,
                          None if tile == "auto" else int(tile), args.precision)
        print(json.dumps(result))
        return 0

    from microsr_core.models.catalog import method_scales
    from microsr_core.models.device import resolve_device
    from microsr_core.errors import ParameterError, WeightsError
    from microsr_core.models.inference import get_method
    from microsr_core.models.precision import resolve_precision
    from microsr_core.models.registry import method_class, method_names
    from microsr_core.models.runtime import BACKEND_CHOICES

    # This process only lists methods and counts FLOPs, which needs the PyTorch graph; every case
    # runs in a subprocess with its own backend.
    os.environ["MICROSR_CPU_BACKEND"] = "pytorch"
    device = str(resolve_device(args.device))
    resolve_precision(args.precision, resolve_device(device))  # a bad choice fails here, not in every case
    backends = args.backends.split(",")
    if not set(backends) <= set(BACKEND_CHOICES):
        parser.error(f"--backends: choose from {', '.join(BACKEND_CHOICES)}")
    methods = args.methods.split(",") if args.methods else []
    if not methods:
        for name in method_names(include_promoted=False):
            try:
                get_method(name, device)
                methods.append(name)
            except WeightsError:
                pass
    probes = probe(device)
    common = ["--device", device, "--precision", args.precision, "--threads", str(args.threads)]

    def case(method: str, backend: str, scale: int, width: int, height: int, repeats: int) -> dict:
        return _subprocess(["--case", method, str(scale), str(width), str(height), "auto", "--repeats", str(repeats), *common], backend)

    # The scales each method has a model for, bicubic LR (microgan_fs: x1 only): other cases are
    # not run, nor listed as skipped: there is nothing to time. Read once: the catalog reads the manifests.
    try:
        scales_served = {method: method_scales(method) for method in methods}
    except ParameterError as exc:  # an unknown name: one line, before any case runs
        parser.error(f"--methods: {exc}")

    def serves(method: str, scale: int) -> bool:
        return method == "vdsr-reference" or scale in scales_served[method]

    def backends_of(method: str) -> list[str]:
        return backends if method != "vdsr-reference" and method_class(method).runs_network else ["auto"]

    scales = [int(s) for s in args.scales.split(",")]
    sizes = [_size(s) for s in args.sizes.split(",")]
    rows, skipped = [], []
    for scale in scales:
        # Throughput of each method at this scale, measured on the smallest size, drives the skip estimates.
        rate: dict[tuple[str, str], float] = {}
        for width, height in sizes:
            for method in methods + (["vdsr-reference"] if "vdsr" in methods else []):
                if not serves(method, scale):
                    continue
                for backend in backends_of(method):
                    name = f"{method} ({backend})" if len(backends_of(method)) > 1 else method
                    estimate = width * height * scale * scale / 1e6 / rate[method, backend] if (method, backend) in rate else 0.0
                    if estimate * (args.repeats + 1) > args.budget:
                        skipped.append(f"{name} x{scale} {width}x{height}: estimated {estimate:.0f} s per run")
                        continue
                    row = case(method, backend, scale, width, height, args.repeats)
                    if "error" in row:
                        skipped.append(f"{name} x{scale} {width}x{height}: {row['error']}")
                        continue
                    rate.setdefault((method, backend), row["mp_per_s"])
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    one_image = None
    if args.one_image:
        width, height, scale = (int(v) for v in args.one_image.split("x"))
        seconds = {}
        for method in (method for method in methods if serves(method, scale)):
            found = [r for r in rows if (r["method"], r["scale"], r["lr_size"]) == (method, scale, f"{width}x{height}")]
            if not found:
                for backend in backends_of(method):
                    row = case(method, backend, scale, width, height, args.repeats)
                    if "error" in row:
                        skipped.append(f"{method} x{scale} {width}x{height}: {row['error']}")
                        continue
                    rows.append(row)
                    found.append(row)
                    print(json.dumps(row), flush=True)
            if found:  # the fastest backend's time
                seconds[method] = min(r["median_s"] for r in found)
        one_image = {"lr_size": f"{width}x{height}", "scale": scale, "seconds": seconds, "total_s": sum(seconds.values())}
    for row in rows:
        add_derived(row, rows, probes, device)
    huge = None
    if args.huge:
        huge = _subprocess(["--case", args.huge_method, "2", str(args.huge), str(args.huge), "auto", "--repeats", "1", *common])
        print(json.dumps(huge), flush=True)
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    report = {"machine": machine(device), "probe": probes, "cases": rows, "one_image": one_image, "huge": huge,
              "skipped": skipped, "command": command}
    write_report(Path(args.out), report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def add_derived(row: dict, rows: list[dict], probes: dict, device: str) -> None:
    """``speedup_vs_reference`` (VDSR against the plain reference of the same scale and size)
    and ``roofline_fraction`` (convolution throughput over the probe in the case's precision)."""
    reference = next((r for r in rows if r["method"] == "vdsr-reference" and (r["scale"], r["lr_size"]) == (row["scale"], row["lr_size"])), None)
    compared = row["method"] in ("vdsr", "vdsr-reference") and reference is not None
    row["speedup_vs_reference"] = reference["median_s"] / row["median_s"] if compared else None
    row.setdefault("psnr_delta_vs_fp32", None)
    if row["method"] == "bicubic":
        row["roofline_fraction"] = None
        return
    flops = _flops_per_output_pixel("vdsr" if row["method"] == "vdsr-reference" else row["method"], row["scale"], device)
    row["roofline_fraction"] = flops * row["mp_per_s"] * 1e6 / (probes[f"{row['precision']}_gflops"] * 1e9)


def _number(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def write_report(path: Path, report: dict) -> None:
    """Prepend the run to the Markdown file (newest run first)."""
    m, p = report["machine"], report["probe"]
    lines = [
        f"## {m['device'].upper()} run, {m['date']}",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores (native bf16: {'yes' if m['native_bf16'] else 'no'}), torch {m['torch']} "
        f"({m['threads']} threads); GPU: {m['gpu'] or 'none'}",
        f"- command: `{report['command']}`",
        f"- roofline probe ({p['shape']}): **{p['fp32_gflops']:.1f} GFLOP/s fp32**, {p['bf16_gflops']:.1f} GFLOP/s bf16 "
        f"({p['bf16_gflops'] / p['fp32_gflops']:.2f}× fp32)" + (f", {p['fp16_gflops']:.1f} GFLOP/s fp16" if "fp16_gflops" in p else ""),
        f"- `--precision auto` picks **{p['auto_precision']}** here",
        "",
        "| method | backend | precision | scale | LR size | median s | speed-up vs reference | output MP/s | peak RSS MB "
        "| conv throughput / probe | ΔPSNR-Y vs fp32 (dB) | tiles |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["cases"]:
        lines.append(
            f"| {r['method']} | {r['backend']} | {r['precision']} | x{r['scale']} | {r['lr_size']} | {r['median_s']:.3f} "
            f"| {_number(r['speedup_vs_reference'], '.2f')} | {r['mp_per_s']:.2f} | {r['peak_rss_mb']:.0f} "
            f"| {_number(r['roofline_fraction'], '.2f')} | {_number(r['psnr_delta_vs_fp32'], '+.4f')} | {r['tiles']} |"
        )
    one = report["one_image"]
    if one:
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in one["seconds"].items())
        lines += ["", f"Every method on one {one['lr_size']} LR image x{one['scale']}: **{one['total_s']:.1f} s** ({parts})."]
    huge = report["huge"]
    if huge:
        if "error" in huge:
            lines += ["", f"Huge tiled run failed: {huge['error']}"]
        else:
            lines += ["", f"Huge tiled run: {huge['method']} x2 on {huge['lr_size']} LR: {huge['median_s']:.1f} s, "
                          f"peak RSS {huge['peak_rss_mb']:.0f} MB, {huge['tiles']} tiles."]
    if report["skipped"]:
        lines += ["", "Skipped (over the time budget or failed):", ""] + [f"- {s}" for s in report["skipped"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = path.read_text() if path.exists() else "# Benchmarks\n\nProduced by `bench/run.py`; newest run first.\n"
    head, _, rest = previous.partition("\n## ")
    path.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + "\n" + ("\n## " + rest if rest else ""))


if __name__ == "__main__":
    sys.exit(main())
