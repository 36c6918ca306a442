"""Ours against the peer, cell by cell, from bench/family.sh's reports of several runs.

    python bench/best_vs_peer.py 2 peer23 vdsr=family,wsi:night0 microgan=mg2g
    PIPES="scanner phone wsi" python bench/best_vs_peer.py 3 peer23 vdsr=family,wsi:night0 microgan=mgx3ema2,wsi:night0

Each METHOD=RUN[,PIPE:RUN] names the run whose report holds the shipped weights of that method
(per pipeline where they differ); the peer (import@realesr) comes from PEER_RUN. One row per
held-out pipeline × stain: gain over bicubic (dB) and sharpness of each method and the peer,
then how many cells the best of ours leads. Every run must hold the same test images (LIMIT).
"""

from __future__ import annotations

import json
import os
import sys

from family_table import EVAL, SETS  # the reports' folder and stains, named in one place

PIPES = tuple(os.environ.get("PIPES", "scanner phone wsi").split())
PEER = "import@realesr"


def result(run: str, pipe: str, name: str, scale: int, method: str) -> tuple[float, float, tuple[str, ...]]:
    """(gain over bicubic, sharpness, test images) of ``method`` in run ``run``'s report."""
    report = json.loads((EVAL / f"{run}_{pipe}_{name}_test_x{scale}.json").read_text())
    entry = report[method]
    return entry["psnr_y"] - report["bicubic"]["psnr_y"], entry["sharpness"], tuple(sorted(entry["per_image"]))


def sources(spec: str) -> dict[str, str]:
    """``family,wsi:night0`` -> {pipe: run} over PIPES."""
    default, *overrides = spec.split(",")
    runs = {pipe: default for pipe in PIPES}
    runs.update(item.split(":", 1) for item in overrides)
    return runs


def main(scale: int, peer_run: str, specs: list[str]) -> None:
    methods = {method: sources(spec) for method, spec in (item.split("=", 1) for item in specs)}
    print("| LR pipeline | set | " + " | ".join(methods) + f" | {PEER} |")
    print("|" + "---|" * (3 + len(methods)))
    ahead = behind = 0
    for pipe in PIPES:
        for name in SETS:
            peer = result(peer_run, pipe, name, scale, PEER)
            ours = [result(runs[pipe], pipe, name, scale, method) for method, runs in methods.items()]
            if any(images != peer[2] for _, _, images in ours):
                raise SystemExit(f"{pipe} {name} x{scale}: the runs hold different test images")
            best = max(gain for gain, _, _ in ours)
            ahead, behind = ahead + (best > peer[0]), behind + (best < peer[0])
            print(f"| {pipe} | {name} | " + " | ".join(f"{g:+.2f}, sharp {s:.2f}" for g, s, _ in ours + [peer]) + " |")
    print(f"\nx{scale}: the best of ours leads the peer in {ahead} cells, trails in {behind}")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
