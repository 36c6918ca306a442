"""Seconds per BCCD field (640x480 LR) of the networks whose bf16 passes the guard in PyTorch only,
under precision auto: as they ran before (OpenVINO, fp32: its bf16 fails the guard) and as auto runs
them now (PyTorch, bf16). One thread, best of 3 after a warm-up.

    python bench/bf16_backends.py [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

from microsr_core.imaging.io import load_image
from microsr_core.models.inference import upscale
from microsr_core.models.registry import method_class
from microsr_core.models.runtime import ExportMismatch
from microsr_core.models.serving import serving_table
from microsr_core.paths import data_root


def seconds(method, image, scale: int, precision: str) -> float:
    upscale(image[:64, :64], method, scale, precision=precision)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        upscale(image, method, scale, precision=precision)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    field = sorted((data_root() / "bccd" / "images").glob("*.jpg"))[0]
    image = load_image(field).pixels
    rows = [row for row in serving_table() if row.bf16_backends == ("pytorch",)]
    print("| weights | scale | OpenVINO fp32 (before) | PyTorch bf16 (auto now) | PyTorch fp32 |")
    print("|---|---|---|---|---|")
    for row in rows:
        cls = method_class(row.method)
        try:
            before = cls(torch.device("cpu"), None, row.lr_kind, weights=[row], backend="openvino")
        except ExportMismatch:  # OpenVINO cannot run it: it ran in PyTorch before too
            print(f"| {row.entry} | x{row.scale} | (no OpenVINO export) | | |")
            continue
        now = cls(torch.device("cpu"), None, row.lr_kind, weights=[row], backend="pytorch")
        times = [seconds(before, image, row.scale, "fp32"), seconds(now, image, row.scale, "bf16"), seconds(now, image, row.scale, "fp32")]
        print(f"| {row.entry} | x{row.scale} | " + " | ".join(f"{t:.2f} s" for t in times) + " |", flush=True)


if __name__ == "__main__":
    main()
