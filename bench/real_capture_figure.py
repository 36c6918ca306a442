"""docs/real_capture.png: what each method does to a realistic capture (issue 24).

    python bench/real_capture_figure.py [--scale 4] [--out docs/real_capture.png]

Rows: a BCCD test field crop, a wbc_seg dataset2 test leukocyte. Columns: HR, bicubic of the
capture, VDSR and MicroGAN with their bicubic-trained weights (what users had: they sharpen the
noise), then with their real-capture weights. The capture is bench/quality.sh's REALISTIC one;
crops are nearest-neighbour enlarged x2 so that the noise is visible. Printed: Y-PSNR of each
crop against the HR and its sharpness ratio (gradient energy / HR's).
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import Degradation, MicroscopeCapture, bicubic_upscale, modcrop  # noqa: E402
from microsr_core.models.inference import upscale  # noqa: E402
from microsr_core.imaging.io import load_image  # noqa: E402
from microsr_core.imaging.metrics import gradient_energy_ratio, psnr_y  # noqa: E402

REALISTIC = "na=0.27,defocus=0.4,anisotropy=1.25,angle_deg=35,full_well=1500,read_noise=8,jpeg_quality=85"
#: (folder, crop top, left, side in HR px) of each row: the first test image of the folder.
ROWS = [("bccd/images", 150, 250, 128), ("wbc_seg/dataset2/images", 86, 86, 128)]
COLUMNS = [("HR", None, None), ("bicubic", "bicubic", "real"), ("VDSR, bicubic weights", "vdsr", "bicubic"),
           ("MicroGAN, bicubic weights", "microgan", "bicubic"), ("VDSR, real-capture", "vdsr", "real"), ("MicroGAN, real-capture", "microgan", "real")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "docs" / "real_capture.png"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    s = args.scale
    tiles_rows = []
    for folder, top, left, side in ROWS:
        path = next(p for p in list_images(Path(args.data) / folder) if split_of(p) == "test")
        hr = modcrop(load_image(path).pixels, s)
        lr = Degradation("microscope", s, capture=MicroscopeCapture.from_text(REALISTIC), seed=zlib.crc32(path.name.encode())).apply(hr)
        tiles = []
        for title, method, kind in COLUMNS:
            image = hr if method is None else np.clip(bicubic_upscale(lr, s), 0, 1) if method == "bicubic" else upscale(lr, method, s, device="cpu", lr_kind=kind).image
            crop = image[top : top + side, left : left + side]
            if method is not None:
                print(f"{path.name:22s} {title:28s} Y-PSNR {psnr_y(image, hr, s):6.2f} dB  sharpness {gradient_energy_ratio(image, hr, s):.2f}")
            tiles.append(np.kron(crop, np.ones((2, 2, 1))))
        tiles_rows.append(tiles)
    size = 2 * ROWS[0][3]
    sheet = Image.new("RGB", (len(COLUMNS) * (size + 4), 18 + len(ROWS) * (size + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (title, _, _) in enumerate(COLUMNS):
        draw.text((c * (size + 4) + 4, 3), title, fill="black")
    for r, tiles in enumerate(tiles_rows):
        for c, tile in enumerate(tiles):
            sheet.paste(Image.fromarray(np.round(np.clip(tile, 0, 1) * 255).astype(np.uint8)), (c * (size + 4) + 2, 18 + r * (size + 4) + 2))
    sheet.save(args.out)
    print(f"{args.out}: x{s}, capture {REALISTIC}")


if __name__ == "__main__":
    main()
