"""Fit microsr_core.imaging.capture_condition's estimator on the train split, and report it.

    python bench/capture_condition_fit.py --fit --images 20   # train split only: prints the CONDITION_* constants
    python bench/capture_condition_fit.py --images 20         # val split (family draws) and the held-out scanner and phone pipelines

Examples (from the first ``--images`` fields of the split in bccd and both wbc_seg datasets):
``--draws`` per field, each at a random scale (2, 3 or 4), on the whole field or a random crop
(LR sides from lr_facts.MIN_SIDE up), degraded by a random CaptureFamily pipeline
(``CaptureFamily.conditioned_pair``: the noise and detail it measures are the truth) or, one in
``BICUBIC_SHARE``, by the MATLAB bicubic downscale (noise: the 8-bit rounding; detail 1), which
uploads often are. The held-out pipelines run on every val field at x2 and x4
(``CameraPipeline.conditioned``). The fit: one network per number (log noise, log detail); 5-fold
cross-validation over train fields (grouped by field) picks its hidden size, whose out-of-fold
residuals give the 90 % error bars per LR size; then each network is fit on all train examples. Nothing here reads val, test or held-out numbers
to choose anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lr_facts_calibration import DATA, FOLDERS  # noqa: E402
from microsr_core.imaging import capture_condition  # noqa: E402
from microsr_core.imaging.capture_family import HELD_OUT, CaptureFamily  # noqa: E402
from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import bicubic_downscale, modcrop  # noqa: E402
from microsr_core.imaging.io import load_image  # noqa: E402
from microsr_core.imaging.lr_facts import MIN_SIDE  # noqa: E402

#: The facts the networks read: lr_facts' scored facts and capture_condition's edge and fineness facts.
FACTS = ("fine_detail_db", "top_band_db", "log_noise", "blockiness", "resolution", "level30_db", "level50_db",
         "level70_db", "level90_db", "axes_db", "corners_db", "log_coarse_noise", "log_kurtosis", "sharpest_edges",
         "sharp_edges", "log_side", "log_cb_noise", "log_cr_noise", "overshoot", "overshoot90", "median_edges", "log_fineness")
#: One example in this many is a bicubic downscale.
BICUBIC_SHARE = 6
HIDDEN_SIZES = (1, 2, 4, 8)
#: Upper bounds of the LR sizes (shorter side, px) that get their own error bars.
SIZE_BINS = (64, 160, 100_000)


def fields(split: str, images: int):
    """(field number, HR pixels) of the first ``images`` fields of ``split`` in each folder."""
    number = 0
    for folder in FOLDERS:
        for path in [p for p in list_images(DATA / folder) if split_of(p) == split][:images]:
            number += 1
            yield number, load_image(path).pixels


def crop(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    """The whole field (one in three) or a random crop whose LR sides are at least MIN_SIDE, a multiple of ``scale``."""
    hr = modcrop(hr, scale)
    if rng.random() < 1 / 3:
        return hr
    rows, cols = (scale * int(rng.integers(MIN_SIDE, side // scale + 1)) for side in hr.shape[:2])
    top, left = int(rng.integers(0, hr.shape[0] - rows + 1)), int(rng.integers(0, hr.shape[1] - cols + 1))
    return hr[top:top + rows, left:left + cols]


def bicubic_example(hr: np.ndarray, scale: int) -> tuple[np.ndarray, float, float]:
    """(LR, noise, detail) of the 8-bit bicubic downscale: its only noise is the rounding, its detail 1 by definition."""
    exact = bicubic_downscale(hr, scale)
    lr = np.round(exact * 255) / 255
    return lr, capture_condition.noise_rms(lr, exact), 1.0


def family_examples(split: str, images: int, draws: int):
    """(field, kind, facts, noise, detail) of ``draws`` random examples per field of ``split``."""
    family, rng = CaptureFamily(), np.random.default_rng({"train": 0, "val": 1}[split])
    for number, hr in fields(split, images):
        for _ in range(draws):
            scale = int(rng.integers(2, 5))
            field = crop(hr, scale, rng)
            if rng.integers(BICUBIC_SHARE) == 0:
                kind, (lr, noise, detail) = "bicubic", bicubic_example(field, scale)
            else:
                kind, (_, lr, noise, detail) = "family", family.conditioned_pair(field, scale, rng)
            yield number, kind, capture_condition.condition_facts(lr), noise, detail


def held_out_examples(images: int):
    """(field, pipeline name, facts, noise, detail) of each held-out pipeline on each val field at x2 and x4."""
    for number, hr in fields("val", images):
        for scale in (2, 4):
            for name, pipeline in HELD_OUT.items():
                lr, noise, detail = pipeline.conditioned(modcrop(hr, scale), scale, 1000 * number + scale)
                yield number, name, capture_condition.condition_facts(lr), noise, detail


def table(examples) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(fields, facts matrix, truth (noise, detail), kinds) of the examples the facts can measure."""
    kept = [e for e in examples if e[2] is not None]
    return (np.array([e[0] for e in kept]), np.array([[e[2][name] for name in FACTS] for e in kept]),
            np.array([(e[3], e[4]) for e in kept]), [e[1] for e in kept])


def targets(truth: np.ndarray) -> np.ndarray:
    """What the network predicts: log noise and log detail (both are ratios of scales, their errors relative)."""
    return np.log(truth)


def adam_fit(z: np.ndarray, t: np.ndarray, hidden: int, steps: int = 3000) -> list[np.ndarray]:
    """Mean squared error of a one-hidden-layer (tanh) network with linear outputs, L2 1e-3, Adam
    (lr 0.01) from seed 0: [hidden biases, fact weights (facts × hidden), output biases, output weights (hidden × outputs)]."""
    rng = np.random.default_rng(0)
    params = [np.zeros(hidden), rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], hidden)), np.zeros(t.shape[1]),
              rng.normal(0, 1 / np.sqrt(hidden), (hidden, t.shape[1]))]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for step in range(1, steps + 1):
        b1, w1, b2, w2 = params
        h = np.tanh(b1 + z @ w1)
        d = 2 * (b2 + h @ w2 - t) / len(t)
        dh = d @ w2.T * (1 - h**2)
        grads = [dh.sum(0), z.T @ dh + 1e-3 * w1, d.sum(0), h.T @ d + 1e-3 * w2]
        for p, g, m in zip(params, grads, moments):
            m[0] = 0.9 * m[0] + 0.1 * g
            m[1] = 0.999 * m[1] + 0.001 * g * g
            p -= 0.01 * (m[0] / (1 - 0.9**step)) / (np.sqrt(m[1] / (1 - 0.999**step)) + 1e-8)
    return params


def predict(params: list[np.ndarray], z: np.ndarray) -> np.ndarray:
    b1, w1, b2, w2 = params
    return b2 + np.tanh(b1 + z @ w1) @ w2


def out_of_fold(groups: np.ndarray, z: np.ndarray, t: np.ndarray, hidden: int, folds: int = 5) -> np.ndarray:
    """Each example's prediction by the network fit on the other folds' fields."""
    fold = np.unique(groups, return_inverse=True)[1] % folds
    predicted = np.empty_like(t)
    for k in range(folds):
        predicted[fold == k] = predict(adam_fit(z[fold != k], t[fold != k], hidden), z[fold == k])
    return predicted


def size_bin(log_side: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.log(SIZE_BINS), log_side)


def _array_text(name: str, rows: np.ndarray) -> str:
    return f"{name} = np.array([\n" + "".join("    (" + ", ".join(f"{v:.4g}" for v in row) + ("," if len(row) == 1 else "") + "),\n" for row in rows) + "])"


def fit(groups: np.ndarray, x: np.ndarray, truth: np.ndarray) -> None:
    """Per number (log noise, log detail) its own network: the hidden size by 5-fold CV over the
    fields (``groups``), the error bars from that size's out-of-fold residuals per LR size, then
    the fit on all examples; prints the constants of capture_condition."""
    centre, spread = x.mean(axis=0), x.std(axis=0) + 1e-9
    z, bins = (x - centre) / spread, size_bin(x[:, FACTS.index("log_side")])
    print(f"# {len(x)} train examples of {len(set(groups))} fields")
    print("CONDITION_FACTS = (\n" + "".join(f'    ("{n}", {c:.5g}, {s:.5g}),\n' for n, c, s in zip(FACTS, centre, spread)) + ")")
    errors = []
    for k, name in enumerate(("NOISE", "DETAIL")):
        t = targets(truth)[:, k:k + 1]
        t_centre, t_spread = float(t.mean()), float(t.std())
        residuals = {hidden: out_of_fold(groups, z, (t - t_centre) / t_spread, hidden) * t_spread + t_centre - t for hidden in HIDDEN_SIZES}
        for hidden, residual in residuals.items():
            print(f"# CV on train, log {name.lower()}, hidden {hidden}: RMSE {np.sqrt(np.mean(residual**2)):.3f} (spread {t_spread:.3f})")
        hidden = min(residuals, key=lambda h: np.mean(residuals[h] ** 2))
        errors.append([np.percentile(np.abs(residuals[hidden][bins == b]), 90) for b in range(len(SIZE_BINS))])
        b1, w1, b2, w2 = adam_fit(z, (t - t_centre) / t_spread, hidden)
        print(f"# log {name.lower()}: hidden size {hidden}, chosen by the CV above")
        print(_array_text(f"{name}_HIDDEN", np.vstack([b1, w1])))
        print(f"{name}_OUT = np.array((" + ", ".join(f"{v:.4g}" for v in np.r_[b2, w2[:, 0]]) + "))")
        print(f"{name}_TARGET = ({t_centre:.5g}, {t_spread:.5g})")
    print("CONDITION_ERRORS = (\n" + "".join(f"    ({bound}, {n:.4g}, {d:.4g}),\n" for bound, n, d in zip(SIZE_BINS, *errors)) + ")")


def report(name: str, x: np.ndarray, truth: np.ndarray) -> None:
    """One Markdown row: RMSE, Pearson r and 90 % interval coverage of each number."""
    estimates = [capture_condition.condition_estimate(dict(zip(FACTS, row))) for row in x]
    cells = []
    for k, what in enumerate(("noise", "detail")):
        value = np.array([getattr(e, what) for e in estimates])
        low, high = (np.array([getattr(e, f"{what}_{end}") for e in estimates]) for end in ("low", "high"))
        inside = np.mean((truth[:, k] >= low) & (truth[:, k] <= high))
        rmse = np.sqrt(np.mean((value - truth[:, k]) ** 2))
        r = f"{np.corrcoef(value, truth[:, k])[0, 1]:.2f}" if np.ptp(truth[:, k]) > 0 else "—"  # a constant truth has no correlation
        cells.append(f"{rmse:.2f} | {r} | {100 * inside:.0f} % | {truth[:, k].min():.2f}–{truth[:, k].max():.2f}")
    print(f"| {name} | {len(x)} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20, help="fields per folder")
    parser.add_argument("--draws", type=int, default=12, help="examples per field")
    parser.add_argument("--fit", action="store_true", help="fit on the train split instead of reporting")
    args = parser.parse_args()
    if args.fit:
        fit(*table(family_examples("train", args.images, args.draws))[:3])
        return
    print("| LR | n | noise RMSE | noise r | noise in 90 % bar | noise range | detail RMSE | detail r | detail in 90 % bar | detail range |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    _, x, truth, kinds = table(family_examples("val", args.images, args.draws))
    for kind in ("family", "bicubic"):
        rows = np.array(kinds) == kind
        report(f"val, {kind}", x[rows], truth[rows])
    _, x, truth, names = table(held_out_examples(args.images))
    for name in HELD_OUT:
        rows = np.array(names) == name
        report(f"val fields, held-out {name}", x[rows], truth[rows])


if __name__ == "__main__":
    main()
