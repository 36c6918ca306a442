"""docs/microgan.png: three held-out BCCD cells in the paper's setting (15x15 Gaussian blur,
same size): blurred input, pretrained-only generator, MicroGAN, MicroGAN-FS, HR.

    python bench/microgan_figure.py --pretrained DIR [--out docs/microgan.png]

DIR is a weights folder whose ``microgan`` entry is the pixel-loss pretrained generator (the
shipped MicroGAN and MicroGAN-FS come from weights/). Cells are cut (MicroGAN section 3.1) from
the test split of BCCD; the three shown are the first three of at least 64 px per side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microsr_core.imaging.cells import CellSettings, extract_cells  # noqa: E402
from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import Degradation  # noqa: E402
from microsr_core.models.inference import upscale  # noqa: E402
from microsr_core.imaging.io import load_image, save_image  # noqa: E402
from microsr_core.imaging.metrics import psnr_y  # noqa: E402
from microsr_core.models.registry import create  # noqa: E402
from microsr_core.models.weights import weights_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", required=True, help="weights folder whose 'microgan' is the pretrained-only generator")
    parser.add_argument("--out", default=str(ROOT / "docs" / "microgan.png"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bccd" / "images"))
    args = parser.parse_args()
    import os
    import torch

    cells = []
    for field in list_images(args.data):
        if split_of(field) == "test":
            cells += [c for c in extract_cells(load_image(field).pixels, CellSettings(), pad=4)[1] if min(c.shape[:2]) >= 64]
        if len(cells) >= 3:
            break
    shipped = weights_dir()
    os.environ["MICROSR_WEIGHTS"] = str(Path(args.pretrained).resolve())
    pretrained = create("microgan", torch.device("cpu"))
    os.environ["MICROSR_WEIGHTS"] = str(shipped)
    columns = [("input", None), ("pretrained only", pretrained), ("MicroGAN", "microgan"), ("MicroGAN-FS", "microgan_fs"), ("HR", None)]
    side = max(max(c.shape[:2]) for c in cells[:3])
    rows = []
    for hr in cells[:3]:
        blurred = Degradation("gaussian", 1).apply(hr)
        tiles = []
        for title, method in columns:
            image = hr if title == "HR" else blurred if method is None else upscale(blurred, method, 1, device="cpu").image
            if title not in ("HR",):
                print(f"{title:16s} Y-PSNR {psnr_y(image, hr, 1):6.2f} dB")
            tile = np.ones((side, side, 3), np.float32)
            tile[: image.shape[0], : image.shape[1]] = image
            tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=1.0))
        rows.append(np.concatenate(tiles, axis=1))
    save_image(args.out, np.concatenate(rows, axis=0))
    print(f"{args.out}: columns {', '.join(t for t, _ in columns)}")


if __name__ == "__main__":
    main()
