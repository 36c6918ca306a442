"""How often the LR-kind suggestion of microsr_core.imaging.lr_facts is right, per family of known
degradations and per file format; and the fit of its score (on the train split only).

    python bench/lr_facts_calibration.py [--images 10]            # the val split: the table of docs/results.md
    python bench/lr_facts_calibration.py --fit [--images 6]       # the train split: SCORE_WEIGHTS to paste

Families (each at x2 and x4, from fields of bccd and both wbc_seg datasets): ``bicubic`` (MATLAB
downscale: truth "bicubic"), ``microscope`` (the default MicroscopeCapture, its JPEG included),
``family`` (a random camera pipeline of capture_family.CaptureFamily per image), and the held-out
``scanner`` and ``phone`` pipelines (truth "real"). Every LR is saved as PNG and as JPEG quality
90 and 95, and read back as a user's upload would be. Each cell: % right of all, (% "can't tell":
the facts point both ways, or the LR is under 32 px, as wbc_seg dataset1 fields are at x4).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microsr_core.imaging import lr_facts  # noqa: E402
from microsr_core.imaging.capture_family import pipeline_degradation  # noqa: E402
from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import Degradation  # noqa: E402
from microsr_core.imaging.io import encode_image, load_image  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FOLDERS = ("bccd/images", "wbc_seg/dataset2/images", "wbc_seg/dataset1/images")
FAMILIES = ("bicubic", "microscope", "family", "scanner", "phone")
FORMATS = ("PNG", "JPEG q90", "JPEG q95")
#: The pixel facts the score weighs.
SCORED = ("fine_detail_db", "top_band_db", "log_noise", "blockiness", "resolution")


def degradation(family: str, scale: int, seed: int) -> Degradation:
    if family in ("bicubic", "microscope"):
        return dataclasses.replace(Degradation(family, scale), seed=seed)
    return dataclasses.replace(pipeline_degradation(family, scale), seed=seed)


def saved(lr: np.ndarray, file_format: str) -> bytes:
    if file_format == "PNG":
        return encode_image(lr, "png", 8)
    buffer = io.BytesIO()
    Image.fromarray(np.round(lr * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=int(file_format[-2:]))
    return buffer.getvalue()


def uploads(split: str, images: int):
    """(family, format, image number, the LR as read back) for every LR of ``split``'s fields."""
    number = 0
    for folder in FOLDERS:
        for path in [p for p in list_images(DATA / folder) if split_of(p) == split][:images]:
            hr = load_image(path).pixels
            number += 1
            for scale in (2, 4):
                for family in FAMILIES:
                    lr = degradation(family, scale, 1000 * number + scale).apply(hr)
                    for file_format in FORMATS:
                        yield family, file_format, (number, scale), load_image(saved(lr, file_format))


def fit(rows: list[tuple[bool, dict]]) -> None:
    """Class-balanced logistic regression of "real" on the standardised SCORED facts; prints SCORE_WEIGHTS."""
    x = np.array([[facts[name] for name in SCORED] for _, facts in rows])
    y = np.array([real for real, _ in rows], dtype=float)
    centre, scale = x.mean(axis=0), x.std(axis=0)
    z = np.c_[np.ones(len(x)), (x - centre) / scale]
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    w = np.zeros(z.shape[1])
    for _ in range(20000):
        p = 1 / (1 + np.exp(-z @ w))
        w -= 0.5 * (z.T @ (weight * (p - y)) / len(y) + 1e-3 * np.r_[0, w[1:]])
    print(f"SCORE_BIAS = {w[0]:.3f}")
    print("SCORE_WEIGHTS = (")
    for name, c, s, coefficient in zip(SCORED, centre, scale, w[1:]):
        print(f'    ("{name}", {c:.4g}, {s:.4g}, {coefficient:.3f}),')
    print(")")


CANT_TELL = "can't tell"


def share(outcomes: list[str], which: str) -> str:
    return f"{100 * outcomes.count(which) / len(outcomes):.0f} %"


def report(outcomes: dict[tuple[str, str], list[str | None]], kinds: dict[tuple, dict[str, str | None]]) -> None:
    """The Markdown table per family and format: % right, and in brackets % "can't tell"; then
    how often the suggestion is right when it makes one, and how often PNG and JPEG agree."""
    print("| LR family (truth) | " + " | ".join(FORMATS) + " | right when it suggests | PNG = JPEG q90 = q95 | n |")
    print("| --- | " + " | ".join("---:" for _ in FORMATS) + " | ---: | ---: | ---: |")
    for family in FAMILIES + ("all",):
        cells = [outcomes[family, f] for f in FORMATS]
        told = [outcome for cell in cells for outcome in cell if outcome != CANT_TELL]
        same = [len(set(k.values())) == 1 for key, k in kinds.items() if family in ("all", key[0])]
        truth = "bicubic" if family == "bicubic" else "real" if family != "all" else "both"
        print(f"| {family} ({truth}) | " + " | ".join(f"{share(c, 'right')} ({share(c, CANT_TELL)})" for c in cells)
              + f" | {100 * told.count('right') / max(len(told), 1):.0f} % | {100 * np.mean(same):.0f} % | {len(cells[0])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10, help="fields per folder")
    parser.add_argument("--fit", action="store_true", help="fit the score on the train split instead of reporting the val split")
    args = parser.parse_args()
    if args.fit:
        rows = [(family != "bicubic", lr_facts.pixel_facts(image.pixels)) for family, _, _, image in uploads("train", args.images)]
        fit([(real, facts) for real, facts in rows if facts is not None])
        return
    outcomes: dict[tuple[str, str], list[str]] = defaultdict(list)
    kinds: dict[tuple, dict[str, str | None]] = defaultdict(dict)
    for family, file_format, number, image in uploads("val", args.images):
        facts = lr_facts.lr_facts(image)
        truth = "bicubic" if family == "bicubic" else "real"
        outcome = CANT_TELL if facts.suggested_kind is None else "right" if facts.suggested_kind == truth else "wrong"
        for key in ((family, file_format), ("all", file_format)):
            outcomes[key].append(outcome)
        kinds[(family,) + number][file_format] = facts.suggested_kind
        assert facts.noise_levels is None or math.isfinite(facts.noise_levels)
    report(outcomes, kinds)


if __name__ == "__main__":
    main()
