"""Calibrate microsr_core.imaging.lr_facts' thresholds on train-split images (never the test split).

    python bench/lr_facts_calibration.py [--images 6]

Prints, per image and LR kind, the noise estimate (8-bit levels) and the effective resolution
(fraction of Nyquist) of bicubic x2/x4 LR and of microscope captures (the default capture without JPEG,
and a mild one: NA 0.5, 20000 e-, read noise 1), all saved lossless so only pixels speak.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import Degradation, MicroscopeCapture  # noqa: E402
from microsr_core.imaging.io import encode_image, load_image  # noqa: E402
from microsr_core.imaging.lr_facts import lr_facts  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KINDS = {
    "bicubic": None,
    "capture": MicroscopeCapture(jpeg_quality=0),
    "mild capture": MicroscopeCapture(jpeg_quality=0, full_well=20000, read_noise=1, na=0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=6, help="per folder")
    args = parser.parse_args()
    folders = ["bccd/images", "wbc_seg/dataset2/images", "wbc_seg/dataset1/images"]
    summary: dict[str, list[tuple[float, float]]] = {}
    for folder in folders:
        files = [p for p in list_images(DATA / folder) if split_of(p) == "train"][: args.images]
        for path in files:
            hr = load_image(path).pixels
            for name, capture in KINDS.items():
                for scale in (2, 4):
                    kind = "bicubic" if name == "bicubic" else "microscope"
                    lr = Degradation(kind, scale, **({"capture": capture} if capture else {})).apply(hr)
                    facts = lr_facts(load_image(encode_image(lr, "png")))
                    summary.setdefault(f"{name} x{scale}", []).append((facts.noise_levels, facts.resolution if facts.resolution is not None else np.nan))
    print(f"{'LR':<18}{'noise min..max':>18}{'resolution min..max':>22}{'n':>4}")
    for key, rows in summary.items():
        noise, res = np.array(rows).T
        print(f"{key:<18}{noise.min():>9.2f}..{noise.max():<7.2f}{np.nanmin(res):>12.2f}..{np.nanmax(res):<8.2f}{len(rows):>4}")


if __name__ == "__main__":
    main()
