"""Validate microsr_core.imaging.segment against the wbc_seg experts' masks (0 background, 128 cytoplasm, 255 nucleus).

    python bench/segmenter_dice.py [--splits train,val,test]

Prints, per data set and split, the mean (and lowest) Dice of the nucleus, and of the leukocyte
(the segmenter's cells that hold a nucleus against the experts' nucleus + cytoplasm). The segmenter
was chosen on train; val and test are stated, never tuned on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.io import load_image  # noqa: E402
from microsr_core.imaging.segment import dice, segment  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wbc_seg"


def scores(path: Path) -> tuple[float, float]:
    """(nucleus Dice, leukocyte Dice) of one image."""
    mask = np.round(load_image(path.parent.parent / "masks" / f"{path.stem}.png").pixels[..., 0] * 255)
    rgb = load_image(path).pixels[: mask.shape[0], : mask.shape[1]]
    found = segment(rgb)
    leukocyte = np.isin(found.cells, np.unique(found.cells[found.nucleus])) & (found.cells > 0)
    return dice(found.nucleus, mask > 191), dice(leukocyte, mask > 63)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", default="train,val,test")
    args = parser.parse_args()
    print("| set | split | images | nucleus Dice mean (min) | leukocyte Dice mean (min) |\n| --- | --- | ---: | ---: | ---: |")
    for name in ("dataset1", "dataset2"):
        for part in args.splits.split(","):
            rows = np.array([scores(p) for p in list_images(DATA / name / "images") if split_of(p) == part])
            print(f"| {name} | {part} | {len(rows)} | {rows[:, 0].mean():.3f} ({rows[:, 0].min():.2f}) | {rows[:, 1].mean():.3f} ({rows[:, 1].min():.2f}) |")


if __name__ == "__main__":
    main()
