"""Calibrate ``assess``'s verdicts on the val split and measure them on the test split.

    python bench/assess_calibration.py collect --split val --pipelines bicubic,microscope,family --out docs/assess/val.csv
    python bench/assess_calibration.py fit docs/assess/val.csv        # writes microsr_core/comparison/assess_calibration.json
    python bench/assess_calibration.py collect --split test --pipelines bicubic,microscope,family,scanner,phone --out docs/assess/test.csv
    python bench/assess_calibration.py report docs/assess/test.csv    # the accuracy table of docs/results.md

``collect`` makes the LR of each HR image (a central crop of ``--crop`` px, so that the CPU run
stays minutes) through each capture pipeline, seeded by the file name as ``evaluate`` does, saves
it lossless (as test LR images are), runs :func:`microsr_core.comparison.assess.gather` with a ×4
self-ensemble and writes one row per (image, pipeline, scale, method): the evidence (with the
×2 spread beside the ×4 one), and the true gain over bicubic from the HR (PSNR-Y, border = scale).
Pipelines: ``bicubic`` (bicubic LR weights), ``microscope`` (the project's capture), ``family``
(the training capture family, one draw per image), held out ``scanner`` and ``phone`` (real LR
weights). ``fit`` uses only val rows and no held-out pipeline; ``report`` never feeds back.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microsr_core.comparison import assess  # noqa: E402
from microsr_core.imaging.capture_family import HELD_OUT, PIPELINES, pipeline_degradation  # noqa: E402
from microsr_core.imaging.data import list_images, split_of  # noqa: E402
from microsr_core.imaging.degrade import Degradation, modcrop  # noqa: E402
from microsr_core.imaging.evidence import central_window, ensemble_spread  # noqa: E402
from microsr_core.imaging.io import encode_image, load_image  # noqa: E402
from microsr_core.imaging.metrics import psnr_y  # noqa: E402
from microsr_core.models.catalog import method_scales  # noqa: E402
from microsr_core.models.registry import method_names  # noqa: E402
from microsr_core.models.serving import served  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: (folder, images per split) of the three sets: close-up cells of two sizes and BCCD fields.
SETS = (("wbc_seg/dataset1/images", 8), ("wbc_seg/dataset2/images", 5), ("bccd/images", 6))


def _degradation(pipeline: str, scale: int) -> Degradation:
    return pipeline_degradation(pipeline, scale) if pipeline in PIPELINES else Degradation(pipeline, scale)


def _rows(path: Path, pipeline: str, scale: int, crop: int) -> list[dict]:
    """One row per method of one image through one pipeline at one scale."""
    hr = load_image(path).pixels
    rows, cols = central_window(hr.shape, crop)
    hr = modcrop(hr[rows, cols], scale)
    deg = replace(_degradation(pipeline, scale), seed=zlib.crc32(path.name.encode()))
    lr, reference = deg.apply(hr), deg.reference(hr)
    lr_kind = "bicubic" if pipeline == "bicubic" else "real"
    methods = [m for m in method_names() if m != assess.BASELINE and scale in method_scales(m, lr_kind)]
    gathered = assess.gather(load_image(encode_image(lr, "png"), name=path.name), scale, methods, lr_kind=lr_kind, ensemble=4)
    features = assess.evidence(gathered, scale)
    base = psnr_y(gathered.results[assess.BASELINE].image, reference, scale)
    out = []
    for method, values in features.items():
        spread2 = float(assess._inner(ensemble_spread(gathered.ensembles[method][:2]), scale).mean())
        gain = psnr_y(gathered.results[method].image, reference, scale) - base
        out.append({"set": path.parent.parent.name if "wbc" in str(path) else "bccd", "image": path.name, "pipeline": pipeline,
                    "scale": scale, "lr_kind": lr_kind, "method": method, **values, "spread_x2": spread2,
                    "suggested_real": int(gathered.facts.suggested_kind == "real"), "true_gain_db": gain,
                    "weights_sha256": gathered.results[method].served.sha256})
    return out


def collect(args) -> None:
    rows = []
    for folder, count in SETS:
        files = [p for p in list_images(DATA / folder) if split_of(p) == args.split][:count]
        for path in files:
            for pipeline in args.pipelines.split(","):
                for scale in map(int, args.scales.split(",")):
                    rows += _rows(path, pipeline, scale, args.crop)
                    print(f"{path.name} {pipeline} x{scale}: " + ", ".join(f"{r['method']} {r['true_gain_db']:+.2f}" for r in rows[-4:]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out}")


def _read(path: str) -> list[dict]:
    """The rows of a ``collect`` CSV, with the ×2 spread as ``spread``: assess ships the ×2 ensemble (assess.ENSEMBLE)."""
    with open(path) as handle:
        rows = [{k: (v if k in ("set", "image", "pipeline", "lr_kind", "method", "weights_sha256") else float(v)) for k, v in row.items()}
                for row in csv.DictReader(handle)]
    return [dict(row, spread=row["spread_x2"]) for row in rows]


def fit(args) -> None:
    rows = _read(args.csv)
    if any(r["pipeline"] in HELD_OUT for r in rows):
        raise SystemExit("refusing to fit on a held-out pipeline")
    # The weights that computed the rows (CSVs collected before the column: the weights shipped now).
    computed_by = {assess.weights_key(r["method"], int(r["scale"]), r["lr_kind"]):
                   r.get("weights_sha256") or served(r["method"], int(r["scale"]), r["lr_kind"]).sha256 for r in rows}
    calibration = assess.fit_calibration(rows, command=" ".join(["python", *sys.argv]), weights=computed_by)
    assess.CALIBRATION_FILE.write_text(json.dumps(calibration, indent=1) + "\n")
    print(f"wrote {assess.CALIBRATION_FILE}")
    print(assess.accuracy_table(rows, calibration))


def report(args) -> None:
    print(assess.accuracy_table(_read(args.csv), assess.load_calibration()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--split", required=True, choices=("val", "test"))
    p.add_argument("--pipelines", default="bicubic,microscope,family")
    p.add_argument("--scales", default="2,4")
    p.add_argument("--crop", type=int, default=240, help="central HR crop (px a side)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=collect)
    p = sub.add_parser("fit")
    p.add_argument("csv")
    p.set_defaults(func=fit)
    p = sub.add_parser("report")
    p.add_argument("csv")
    p.set_defaults(func=report)
    args = parser.parse_args()
    np.seterr(all="ignore")
    args.func(args)


if __name__ == "__main__":
    main()
