"""The leave-one-family-out table of docs/results.md from bench/family.sh's reports.

    python bench/family_table.py [RUN ...]     # default: family; several runs side by side
    METHODS=prior,prior_none python bench/family_table.py RUN ...   # other methods' columns
    SPLIT=val PIPES=usbcam python bench/family_table.py RUN ...      # choosing weights: the validation pipeline on val

One row per pipeline × stain × scale; per method and run: mean Y-PSNR gain over bicubic (dB),
the worst image's gain, SSIM-Y difference, sharpness (gradient energy / the HR's) and invented
colour (% of pixels, mean and worst image).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

EVAL = Path(__file__).resolve().parents[1] / "docs" / "eval" / "family"
PIPES = tuple(os.environ.get("PIPES", "microscope scanner phone wsi").split())
SETS = ("bccd", "wbc1", "wbc2")
SPLIT = os.environ.get("SPLIT", "test")
METHODS = tuple(os.environ.get("METHODS", "vdsr,microgan,import@realesr").split(","))


def cell(report: dict, name: str) -> str:
    entry, base = report[name], report["bicubic"]
    worst = min(row["gain_db"] for row in entry["per_image"].values())
    return (f"{entry['psnr_y'] - base['psnr_y']:+.2f} (min {worst:+.2f}), ΔSSIM {entry['ssim_y'] - base['ssim_y']:+.4f}, "
            f"sharp {entry['sharpness']:.2f}, colour {entry['invented_colour_pct']:.2f}/{entry['invented_colour_pct_max']:.2f} %")


def main(runs: list[str]) -> None:
    print("| LR pipeline | set | scale | bicubic sharp | " + " | ".join(f"{m} [{r}]" for r in runs for m in METHODS) + " |")
    print("|" + "---|" * (4 + len(METHODS) * len(runs)))
    gains: dict[tuple[str, str], list[float]] = {(run, m): [] for run in runs for m in METHODS}
    for pipe in PIPES:
        for name in SETS:
            for scale in (2, 3, 4):
                reports = {run: EVAL / f"{run}_{pipe}_{name}_{SPLIT}_x{scale}.json" for run in runs}
                if not all(path.is_file() for path in reports.values()):
                    continue
                loaded = {run: json.loads(path.read_text()) for run, path in reports.items()}
                first = next(iter(loaded.values()))
                cells = [cell(loaded[run], m) if m in loaded[run] else "—" for run in runs for m in METHODS]
                print(f"| {pipe} | {name} | x{scale} | {first['bicubic']['sharpness']:.2f} | " + " | ".join(cells) + " |")
                for (run, m), values in gains.items():
                    if m in loaded[run]:
                        values.append(loaded[run][m]["psnr_y"] - loaded[run]["bicubic"]["psnr_y"])
    means = [f"{sum(v) / len(v):+.2f} over {len(v)} cells" if v else "—" for v in gains.values()]
    print("| mean gain | | | | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["family"])
