"""How far a held-out cell could go: the shipped real-capture weights fine-tuned on that very pipeline.

    python bench/oracle_ceiling.py wsi 2 bccd                 # VDSR x2 real, wsi captures of BCCD fields
    python bench/oracle_ceiling.py phone 4 bccd --steps 1500

An oracle no user has (an upload's capture pipeline is unknown, which is why the shipped weights are
trained on a family and judged on pipelines they never saw), so nothing it trains is stored, shipped
or used for any choice. What it tells: whether a cell's shortfall against issue 37's +0.5 dB bar is
the weights' (the oracle gains much more) or the images' (even the oracle gains little: the HR holds
little detail above the LR's Nyquist frequency that a capture of it keeps).

Fine-tune: the set's train split, each image captured once by the pipeline with its own seed
(``--pairs`` images), random 48 px Y crops of the bicubic-upsampled LR (batch 16, the 8 flips and
rotations), Adam (``--lr``), mean squared error on Y, float32. Test: the first ``--limit`` test images,
LR made as ``evaluate`` (hence bench/family.sh) makes them (seed: CRC32 of the file name), gain over
bicubic (Y-PSNR, border = scale) before and after.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from family_table import SETS  # noqa: E402
from microsr_core.imaging.capture_family import HELD_OUT, pipeline_degradation  # noqa: E402
from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.io import load_image  # noqa: E402
from microsr_core.imaging.metrics import psnr_y  # noqa: E402
from microsr_core.models.inference import upscale  # noqa: E402
from microsr_core.models.methods.vdsr import VDSRMethod  # noqa: E402
from microsr_core.models.serving import serving_table  # noqa: E402
from microsr_core.models.weights import build_network, load_weights  # noqa: E402
from microsr_core.train.task import dihedral, y_planes  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FOLDERS = dict(zip(SETS, ("bccd/images", "wbc_seg/dataset1/images", "wbc_seg/dataset2/images")))
CPU = torch.device("cpu")
CROP = 48


def files(name: str, split: str) -> list[Path]:
    return [path for path in list_images(DATA / FOLDERS[name]) if split_of(path) == split]


def captured(path: Path, pipeline: str, scale: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR, reference) of one HR image captured by ``pipeline`` with ``seed`` (the degradation modcrops)."""
    hr = load_image(path).pixels
    deg = replace(pipeline_degradation(pipeline, scale), seed=seed)
    return deg.apply(hr), deg.reference(hr)


def training_planes(paths: list[Path], pipeline: str, scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(network input, target) Y planes of each train image captured once by ``pipeline``."""
    return [y_planes(*captured(path, pipeline, scale, 10_000 + number), scale) for number, path in enumerate(paths)]


def stacked(planes: list[np.ndarray]) -> torch.Tensor:
    """(N, 1, H, W) float32 tensor of N equal-sized planes."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(planes)[:, None], dtype=np.float32))


def batch(planes: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    inputs, targets = [], []
    for _ in range(size):
        x, y = planes[rng.integers(len(planes))]
        top, left = rng.integers(x.shape[0] - CROP + 1), rng.integers(x.shape[1] - CROP + 1)
        k = int(rng.integers(8))
        inputs.append(dihedral(x[top:top + CROP, left:left + CROP], k))
        targets.append(dihedral(y[top:top + CROP, left:left + CROP], k))
    return stacked(inputs), stacked(targets)


def gains(pairs: list[tuple[np.ndarray, np.ndarray]], bicubic: list[float], scale: int, method: VDSRMethod) -> list[float]:
    """Gain of ``method`` over the ``bicubic`` Y-PSNR of each (LR, reference) pair."""
    return [psnr_y(upscale(lr, method, scale, precision="fp32", lr_kind="real").image, reference, scale) - base
            for (lr, reference), base in zip(pairs, bicubic)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pipeline", choices=HELD_OUT)
    parser.add_argument("scale", type=int)
    parser.add_argument("set", choices=SETS)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--limit", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    row = next(r for r in serving_table("vdsr") if r.scale == args.scale and r.lr_kind == "real" and r.source == "shipped")
    state, card = load_weights(row.entry)
    net = build_network(row.entry, card, state).train()
    # the test LRs as ``evaluate`` makes them (seed: CRC32 of the file name), made once for both measurements
    test = [captured(path, args.pipeline, args.scale, zlib.crc32(path.name.encode())) for path in files(args.set, "test")[: args.limit]]
    bicubic = [psnr_y(upscale(lr, "bicubic", args.scale).image, reference, args.scale) for lr, reference in test]
    before = gains(test, bicubic, args.scale, VDSRMethod(CPU, lr_kind="real", weights=[row], backend="pytorch"))
    planes = training_planes(files(args.set, "train")[: args.pairs], args.pipeline, args.scale)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng, start = np.random.default_rng(0), time.perf_counter()
    for _ in range(args.steps):
        inputs, targets = batch(planes, rng)
        loss = torch.nn.functional.mse_loss(net(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    tuned = VDSRMethod(CPU, lr_kind="real", weights=[row], backend="pytorch", tensors=net.eval().state_dict())
    after = gains(test, bicubic, args.scale, tuned)
    print(f"| {args.pipeline} | {args.set} | x{args.scale} | {row.entry} | {np.mean(before):+.2f} (min {min(before):+.2f}) | "
          f"{np.mean(after):+.2f} (min {min(after):+.2f}) | {args.steps} steps, {seconds:.0f} s, {len(planes)} train images |")


if __name__ == "__main__":
    main()
