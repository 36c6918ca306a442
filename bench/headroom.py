"""How much detail a dataset leaves for super-resolution to recover, per scale.

    python bench/headroom.py ../shared/data/bccd/images [--split test] [--scales 2,4]

For each scale: the mean Y-PSNR of bicubic against HR (LR rounded to 8 bit, as MicroSR makes it,
and unrounded, which isolates the share of the error that is LR quantisation), and the RMS of the
HR Y channel above the LR Nyquist frequency (1 / (2·scale) cycles per pixel), in 8-bit grey
levels: the detail an SR method has to predict. JPEG fields whose above-Nyquist content is about
one grey level leave little for any method to gain over bicubic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microsr_core.imaging.color import rgb_to_y  # noqa: E402
from microsr_core.imaging.data import SPLITS, list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import bicubic_downscale, bicubic_upscale, modcrop  # noqa: E402
from microsr_core.imaging.io import load_image  # noqa: E402
from microsr_core.imaging.metrics import psnr_y  # noqa: E402


def above_nyquist_rms(rgb: np.ndarray, scale: int) -> float:
    """RMS (8-bit grey levels) of the Y channel's spectrum beyond the ×scale LR Nyquist frequency."""
    y = rgb_to_y(rgb).astype(np.float64) * 255
    spectrum = np.fft.fft2(y - y.mean())
    fy = np.abs(np.fft.fftfreq(y.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(y.shape[1]))[None, :]
    beyond = np.maximum(fy, fx) > 0.5 / scale
    return float(np.sqrt((np.abs(spectrum[beyond]) ** 2).sum()) / y.size)


def headroom(hr_rgb: np.ndarray, scale: int) -> dict[str, float]:
    hr = modcrop(hr_rgb, scale)
    lr = bicubic_downscale(hr, scale)
    lr_8bit = np.round(np.clip(lr, 0, 1) * 255) / 255
    return {
        "bicubic_psnr_y": psnr_y(np.clip(bicubic_upscale(lr_8bit, scale), 0, 1), hr, scale),
        "bicubic_psnr_y_unrounded_lr": psnr_y(np.clip(bicubic_upscale(lr, scale), 0, 1), hr, scale),
        "above_nyquist_rms": above_nyquist_rms(hr, scale),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("hr", help="folder of HR images")
    parser.add_argument("--split", choices=("all", *SPLITS), default="test")
    parser.add_argument("--scales", default="2,4")
    args = parser.parse_args(argv)
    files = list_images(args.hr)
    if args.split != "all":
        files = [f for f in files if split_of(f) == args.split]
    print(f"{args.hr} ({args.split}, {len(files)} images)")
    print("| scale | bicubic Y-PSNR | with unrounded LR | HR Y RMS above LR Nyquist (grey levels) |")
    print("| --- | --- | --- | --- |")
    images = [load_image(path).pixels for path in files]
    for scale in (int(s) for s in args.scales.split(",")):
        rows = [headroom(image, scale) for image in images]
        means = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        print(
            f"| x{scale} | {means['bicubic_psnr_y']:.2f} dB | {means['bicubic_psnr_y_unrounded_lr']:.2f} dB"
            f" | {means['above_nyquist_rms']:.2f} |"
        )


if __name__ == "__main__":
    main()
