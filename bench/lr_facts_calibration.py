"""How often the LR-kind suggestion of microsr_core.imaging.lr_facts is right, per family of known
degradations and per file format; and the fit of its score (on the train split only).

    python bench/lr_facts_calibration.py [--images 10] [--split test]  # the val (or test) split: the tables of docs/results.md
    python bench/lr_facts_calibration.py --fit --images 60            # the train split: the SCORE_* constants of lr_facts
    python bench/lr_facts_calibration.py --images 27 --split test --families wsi   # one family's rows

Families (each at x2 and x4, from fields of bccd and both wbc_seg datasets): ``bicubic`` (MATLAB
downscale: truth "bicubic"), ``microscope`` (the default MicroscopeCapture, its JPEG included),
``family`` (a random camera pipeline of capture_family.CaptureFamily per image), and the held-out
``scanner`` and ``phone`` pipelines (truth "real"); reported but never fit on: ``wsi`` (the held-out
pipeline added after the score was fit, so its rows say how the score does on a capture kind it
never saw). Every LR is saved as PNG and as JPEG quality
90 and 95, and read back as a user's upload would be. Each cell: % right of all, (% "can't tell":
the facts point both ways, or the LR is under 32 px, as wbc_seg dataset1 fields are at x4); then
% right of the LRs of at least 32 px, % right when it suggests, % of captures whose PNG and JPEG
q90 and q95 get the same suggestion.
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
#: The families the score is fit on (train split) and reported on.
FAMILIES = ("bicubic", "microscope", "family", "scanner", "phone")
#: Reported only: the score never saw them.
UNSEEN = ("wsi",)
FORMATS = ("PNG", "JPEG q90", "JPEG q95")
#: The pixel facts the score weighs.
SCORED = ("fine_detail_db", "top_band_db", "log_noise", "blockiness", "resolution", "level30_db", "level50_db",
          "level70_db", "level90_db", "axes_db", "corners_db", "log_coarse_noise", "log_kurtosis", "sharpest_edges",
          "sharp_edges", "log_side", "log_cb_noise", "log_cr_noise")


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


def uploads(split: str, images: int, families: tuple[str, ...]):
    """(family, format, image number, the LR as read back) for every LR of ``split``'s fields."""
    number = 0
    for folder in FOLDERS:
        for path in [p for p in list_images(DATA / folder) if split_of(p) == split][:images]:
            hr = load_image(path).pixels
            number += 1
            for scale in (2, 4):
                for family in families:
                    lr = degradation(family, scale, 1000 * number + scale).apply(hr)
                    for file_format in FORMATS:
                        yield family, file_format, (number, scale), load_image(saved(lr, file_format))


def _adam_fit(z: np.ndarray, y: np.ndarray, hidden: int, steps: int = 3000) -> list[np.ndarray]:
    """Class-balanced log-loss of a one-hidden-layer (tanh) network, L2 1e-3, Adam (lr 0.01) from seed 0:
    [hidden biases, fact weights (facts × hidden), output bias (1,), output weights]."""
    rng = np.random.default_rng(0)
    params = [np.zeros(hidden), rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], hidden)), np.zeros(1),
              rng.normal(0, 1 / np.sqrt(hidden), hidden)]
    balance = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean())) / len(y)
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for step in range(1, steps + 1):
        b1, w1, b2, w2 = params
        h = np.tanh(b1 + z @ w1)
        d = balance * (1 / (1 + np.exp(-(b2 + h @ w2))) - y)
        dh = np.outer(d, w2) * (1 - h**2)
        grads = [dh.sum(0), z.T @ dh + 1e-3 * w1, d.sum(keepdims=True), h.T @ d + 1e-3 * w2]
        for p, g, m in zip(params, grads, moments):
            m[0] = 0.9 * m[0] + 0.1 * g
            m[1] = 0.999 * m[1] + 0.001 * g * g
            p -= 0.01 * (m[0] / (1 - 0.9**step)) / (np.sqrt(m[1] / (1 - 0.999**step)) + 1e-8)
    return params


def fit(rows: list[tuple[bool, dict]], hidden: int = 8) -> None:
    """Fit the score (a network of one hidden layer) of "real" on the standardised SCORED facts; prints the constants of lr_facts."""
    x = np.array([[facts[name] for name in SCORED] for _, facts in rows])
    y = np.array([real for real, _ in rows], dtype=float)
    centre, scale = x.mean(axis=0), x.std(axis=0)
    b1, w1, b2, w2 = _adam_fit((x - centre) / scale, y, hidden)
    print("SCORE_FACTS = (")
    for name, c, s in zip(SCORED, centre, scale):
        print(f'    ("{name}", {c:.5g}, {s:.5g}),')
    print(")")
    rows_text = ",\n".join("    (" + ", ".join(f"{v:.4g}" for v in row) + ")" for row in np.vstack([b1, w1]))
    print(f"SCORE_HIDDEN = np.array([\n{rows_text},\n])")
    print("SCORE_OUT = np.array((" + ", ".join(f"{v:.4g}" for v in np.r_[b2, w2]) + "))")


CANT_TELL = "can't tell"
SMALL = "too small"


def share_of(outcomes: list[str], *which: str) -> float:
    return 100 * sum(outcomes.count(w) for w in which) / max(len(outcomes), 1)


def share(outcomes: list[str], which: str) -> str:
    return f"{share_of(outcomes, which):.0f} %"


def report(outcomes: dict[tuple[str, str], list[str | None]], kinds: dict[tuple, dict[str, str | None]],
           families: tuple[str, ...]) -> None:
    """The Markdown table per family and format: % right, and in brackets % "can't tell"; then
    how often it is right of the LRs of at least MIN_SIDE px, and when it suggests, and how often
    PNG and JPEG agree."""
    print("| LR family (truth) | " + " | ".join(FORMATS) + f" | right, ≥ {lr_facts.MIN_SIDE} px | right when it suggests | PNG = JPEG q90 = q95 | n |")
    print("| --- | " + " | ".join("---:" for _ in FORMATS) + " | ---: | ---: | ---: | ---: |")
    for family in families + ("all",):
        cells = [outcomes[family, f] for f in FORMATS]
        measured = [outcome for cell in cells for outcome in cell if outcome != SMALL]
        told = [outcome for outcome in measured if outcome != CANT_TELL]
        same = [len(set(k.values())) == 1 for key, k in kinds.items() if family in ("all", key[0])]
        truth = "bicubic" if family == "bicubic" else "real" if family != "all" else "both"
        print(f"| {family} ({truth}) | " + " | ".join(f"{share(c, 'right')} ({100 - share_of(c, 'right', 'wrong'):.0f} %)" for c in cells)
              + f" | {share(measured, 'right')} | {share(told, 'right')} | {100 * np.mean(same):.0f} % | {len(cells[0])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10, help="fields per folder")
    parser.add_argument("--split", default="val", choices=("val", "test"), help="the split to report (the score is fit on train)")
    parser.add_argument("--fit", action="store_true", help="fit the score on the train split instead of reporting a split")
    parser.add_argument("--families", default=",".join(FAMILIES + UNSEEN), help="the families to report (comma-separated)")
    args = parser.parse_args()
    if args.fit:
        rows = [(family != "bicubic", lr_facts.pixel_facts(image.pixels)) for family, _, _, image in uploads("train", args.images, FAMILIES)]
        fit([(real, facts) for real, facts in rows if facts is not None])
        return
    outcomes: dict[tuple[str, str], list[str]] = defaultdict(list)
    kinds: dict[tuple, dict[str, str | None]] = defaultdict(dict)
    families = tuple(args.families.split(","))
    unknown = set(families) - set(FAMILIES + UNSEEN)
    if unknown:
        parser.error(f"unknown families {', '.join(sorted(unknown))}; choose from {', '.join(FAMILIES + UNSEEN)}")
    for family, file_format, number, image in uploads(args.split, args.images, families):
        facts = lr_facts.lr_facts(image)
        truth = "bicubic" if family == "bicubic" else "real"
        outcome = (SMALL if facts.noise_levels is None else CANT_TELL) if facts.suggested_kind is None else "right" if facts.suggested_kind == truth else "wrong"
        for key in ((family, file_format), ("all", file_format)):
            outcomes[key].append(outcome)
        kinds[(family,) + number][file_format] = facts.suggested_kind
        assert facts.noise_levels is None or math.isfinite(facts.noise_levels)
    report(outcomes, kinds, families)


if __name__ == "__main__":
    main()
