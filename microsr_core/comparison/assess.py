"""Which method helped this image? A calibrated verdict without an HR reference.

Most clinicians upload a capture with no HR reference. For each method this module gathers the
evidence the user's own images hold (:mod:`microsr_core.imaging.evidence`, and the LR-consistency
of :mod:`microsr_core.comparison.compare` under the capture the LR facts suggest,
:mod:`microsr_core.imaging.lr_facts`), and turns it into an expected gain over bicubic in dB
with an interval and a verdict through a small linear model fitted on the val split
(``bench/assess_calibration.py``; the coefficients ship in ``assess_calibration.json``):

- ``expected_gain_db`` = intercept + Σ coefficient × (feature − its val mean), one fit per
  method and LR kind (a pooled fit serves methods it has not seen);
- ``interval_db`` = expected ± z × the fit's residual standard deviation on val (z for 80 %);
- ``verdict``: ``helped`` when expected − k × sd > 0, ``hurt`` when expected + k × sd < 0,
  ``unsure`` otherwise (k chosen on val so that at most a tenth of the pairs are unsure).

The JSON of ``python -m microsr_core assess`` is ``{"<file name>": {"<method>": {"verdict": …,
"expected_gain_db": …, "interval_db": [lo, hi], "reason": …, "evidence": {…}}}}``; keep it stable.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..imaging.data import list_images
from ..imaging.degrade import Degradation
from ..imaging.evidence import (INVERSES, TRANSFORMS, central_window, chroma_difference, consensus_departure, disagreement_map,
                                ensemble_spread, luma_difference)
from ..imaging.io import LoadedImage, load_image
from ..imaging.lr_facts import LRFacts, lr_facts
from ..models.inference import upscale
from ..models.serving import DEFAULT_KIND
from .compare import BASELINE, lr_consistency
from .evaluate import check_methods

#: The shipped calibration (written by ``python bench/assess_calibration.py fit``).
CALIBRATION_FILE = Path(__file__).with_name("assess_calibration.json")
#: Side (LR px) of the central window the self-ensemble runs on: it bounds the ensemble's cost on
#: large images (a 640×480 LR at ×4) while covering the small ones whole.
ENSEMBLE_SIDE = 128
#: Transforms per self-ensemble for a verdict (identity + a left-right flip): on val the ×4 spread
#: predicted no better (leave-one-image-out RMSE 1.178 against 1.182 dB, 1.182 without any spread).
ENSEMBLE = 2
#: SR pixels per LR pixel shaved from the ensemble window's edges, where the flipped runs lack context.
WINDOW_MARGIN = 4
#: Plain-words name of each feature, for the one-line reason.
FEATURE_WORDS = {
    "consistency_gain_db": "its result reproduces the LR {magnitude:.1f} dB {better} than bicubic's under the estimated capture",
    "consistency_bicubic_db": "its result reproduces the LR {magnitude:.1f} dB {better} than bicubic's under a bicubic downscale",
    "consistency_microscope_db": "its result reproduces the LR {magnitude:.1f} dB {better} than bicubic's under a microscope capture",
    "chroma_change": "it moved the colour by {value:.1f} levels on average from bicubic's",
    "change": "it changed the image by {value:.1f} grey levels on average from bicubic",
    "spread": "its flipped runs disagree by {value:.2f} grey levels",
    "departure": "it departs from the other methods by {value:.1f} grey levels",
}
#: Features of the LR alone: they shift what a method is expected to gain but say nothing of its result.
LR_FEATURES = ("noise", "resolution")
#: The sign of the slope under which a feature reads as it sounds (+: more is better, -: more is worse, absent: either).
READS_AS = {"consistency_gain_db": 1, "consistency_bicubic_db": 1, "consistency_microscope_db": 1,
            "chroma_change": -1, "spread": -1, "departure": -1}


@dataclass
class Gathered:
    """Every method's result on one LR image, its self-ensemble and the capture the facts suggest."""

    lr: np.ndarray
    facts: LRFacts
    degradation: Degradation
    results: dict[str, Any]  # name -> SRResult, the baseline first
    ensembles: dict[str, list[np.ndarray]]  # name -> outputs on the window, each brought back
    window: tuple[slice, slice]  # the ensemble window in SR pixels
    seconds_methods: float  # the comparison's own time: every method once
    seconds: float  # all of it


#: The captures an LR may have come through, as the LR facts tell them apart.
CAPTURES = ("bicubic", "microscope")


def estimated_degradation(facts: LRFacts, scale: int) -> Degradation:
    """How the LR facts say the LR was made: the project's microscope capture for a suggested real
    capture, a bicubic downscale otherwise."""
    return Degradation("microscope" if facts.suggested_kind == "real" else "bicubic", scale)


def self_ensemble(lr: np.ndarray, method: str, scale: int, count: int, **options) -> list[np.ndarray]:
    """The outputs of ``method`` on the first ``count`` :data:`~microsr_core.imaging.evidence.TRANSFORMS` of ``lr``,
    each brought back by its inverse (``options`` go to :func:`~microsr_core.models.inference.upscale`)."""
    if not 1 <= count <= len(TRANSFORMS):
        raise ParameterError(f"a self-ensemble takes 1 to {len(TRANSFORMS)} transforms, got {count}")
    outputs = []
    for (_, forward), inverse in zip(TRANSFORMS[:count], INVERSES[:count]):
        image = upscale(np.ascontiguousarray(forward(lr)), method, scale, **options).image
        outputs.append(np.ascontiguousarray(inverse(image)))
    return outputs


def gather(loaded: LoadedImage, scale: int, methods: list[str], *, lr_kind: str = DEFAULT_KIND, ensemble: int = ENSEMBLE,
           **options) -> Gathered:
    """Run bicubic and ``methods`` on ``loaded`` once each, then :func:`gather_results`."""
    start = time.perf_counter()
    names = [BASELINE] + [m for m in methods if m != BASELINE]
    results = {name: upscale(loaded.pixels, name, scale, lr_kind=lr_kind, **options) for name in names}
    seconds_methods = time.perf_counter() - start
    gathered = gather_results(loaded, results, scale, lr_kind=lr_kind, ensemble=ensemble, **options)
    gathered.seconds_methods, gathered.seconds = seconds_methods, time.perf_counter() - start
    return gathered


def gather_results(loaded: LoadedImage, results: dict[str, Any], scale: int, *, lr_kind: str = DEFAULT_KIND,
                   ensemble: int = ENSEMBLE, models: dict[str, Any] | None = None, **options) -> Gathered:
    """The evidence's raw material from results already computed ({name: SRResult}; bicubic is
    added when missing): the rest of each network's self-ensemble on the central
    :data:`ENSEMBLE_SIDE` window, run by ``models[name]`` where given (the app's shared instances)."""
    start = time.perf_counter()
    lr = loaded.pixels
    if BASELINE not in results:
        results = {BASELINE: upscale(lr, BASELINE, scale), **results}
    rows, cols = central_window(lr.shape, ENSEMBLE_SIDE)
    window = (slice(rows.start * scale, rows.stop * scale), slice(cols.start * scale, cols.stop * scale))
    ensembles = {}
    for name, result in results.items():
        if name != BASELINE:
            method = (models or {}).get(name, name)
            # the capture maps the result ran with: a flip's own estimate would be another assumption
            extra = self_ensemble(lr[rows, cols], method, scale, ensemble, lr_kind=lr_kind, capture=result.capture_maps, **options)[1:] if ensemble > 1 else []
            ensembles[name] = [result.image[window]] + extra
    facts = lr_facts(loaded)
    return Gathered(lr, facts, estimated_degradation(facts, scale), results, ensembles, window, 0.0, time.perf_counter() - start)


def _inner(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` without the :data:`WINDOW_MARGIN` LR px at its edges (all of it when that leaves nothing)."""
    m = WINDOW_MARGIN * scale
    return image[m:-m, m:-m] if min(image.shape[:2]) > 4 * m else image


def _consistency_gain(sr: np.ndarray, bicubic: np.ndarray, lr: np.ndarray, degradation: Degradation) -> float:
    """LR-consistency PSNR-Y of ``sr`` minus bicubic's under ``degradation`` (0 where either is perfect)."""
    gain = lr_consistency(sr, lr, degradation).psnr_y - lr_consistency(bicubic, lr, degradation).psnr_y
    return float(gain) if math.isfinite(gain) else 0.0


def evidence(gathered: Gathered, scale: int) -> dict[str, dict[str, float]]:
    """{method: {feature: value}} for every method but the baseline (:data:`DEFAULT_FEATURES`, and more the calibration may try)."""
    images = {name: result.image for name, result in gathered.results.items()}
    bicubic = images[BASELINE]
    out = {}
    for name in images:
        if name == BASELINE:
            continue
        gains = {kind: _consistency_gain(images[name], bicubic, gathered.lr, Degradation(kind, scale)) for kind in CAPTURES}
        out[name] = {
            "consistency_gain_db": gains[gathered.degradation.kind],
            **{f"consistency_{kind}_db": gain for kind, gain in gains.items()},
            "chroma_change": float(chroma_difference(images[name], bicubic).mean()),
            "change": float(luma_difference(images[name], bicubic).mean()),
            "spread": float(_inner(ensemble_spread(gathered.ensembles[name]), scale).mean()),
            "departure": float(consensus_departure(images, name).mean()),
            "noise": gathered.facts.noise_levels,
            "resolution": gathered.facts.resolution if gathered.facts.resolution is not None else 1.0,
        }
    return out


def load_calibration(path: Path = CALIBRATION_FILE) -> dict[str, Any]:
    """The fitted verdict model (see the module docstring)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read the assess calibration ({exc})") from None


def _fit_for(method: str, lr_kind: str, calibration: dict[str, Any]) -> dict[str, Any] | None:
    fits = calibration["fits"]
    return fits.get(f"{method}@{lr_kind}") or fits.get(f"*@{lr_kind}")


def _reason(fit: dict[str, Any], features: dict[str, float], sign: float) -> str:
    """The evidence about the result that pushed the expected gain most in the verdict's direction,
    in words. Only evidence whose fitted slope reads as it sounds (:data:`READS_AS`) may be the
    reason: with real-capture weights a worse consistency under a bicubic downscale predicts a gain
    (the LR was no bicubic downscale), true but no reason a reader can follow. The LR's own facts
    (noise, resolution) only say what such LR images usually gain."""
    pushes = {f: sign * c * (features[f] - fit["means"][f]) for f, c in fit["coefficients"].items()
              if f not in LR_FEATURES and READS_AS.get(f, 0) * c >= 0}
    feature = max(pushes, key=pushes.get, default=None)
    if feature is None or pushes[feature] <= 0:
        return f"methods like it gained {fit['intercept']:+.1f} dB on average on val images of this LR kind"
    value = features[feature]
    return FEATURE_WORDS[feature].format(value=value, magnitude=abs(value), better="better" if value >= 0 else "worse")


#: :func:`calibration_status` of weights the calibration was fitted on.
CALIBRATED = "calibrated on these weights"


def weights_key(method: str, scale: int, lr_kind: str) -> str:
    """How a calibration names the weights a method served: ``vdsr x2 real``."""
    return f"{method} x{scale} {lr_kind}"


def calibration_status(method: str, scale: int, lr_kind: str, sha256: str | None, calibration: dict[str, Any]) -> str:
    """Whether the weights that computed a result are the ones the calibration was fitted on: a
    calibration is a fact about those weights, and a republished network may gain where the old one lost."""
    fitted = calibration.get("weights", {})
    key = weights_key(method, scale, lr_kind)
    if key not in fitted:
        return "not calibrated on these weights: the pooled fit of methods on this LR kind"
    if fitted[key] != sha256:
        return f"calibrated on other weights of this method (sha256 {str(fitted[key])[:12]}); refit: bench/assess_calibration.py"
    return CALIBRATED


def predict(method: str, lr_kind: str, features: dict[str, float], calibration: dict[str, Any]) -> dict[str, Any]:
    """The verdict of one (image, method) from its ``features`` (:func:`evidence`)."""
    fit = _fit_for(method, lr_kind, calibration)
    if fit is None:
        return {"verdict": "unsure", "expected_gain_db": None, "interval_db": None,
                "reason": f"no calibration for {lr_kind} LR", "evidence": features}
    expected = fit["intercept"] + sum(c * (features[f] - fit["means"][f]) for f, c in fit["coefficients"].items())
    sd, k = fit["residual_sd"], calibration["decision_k"]
    verdict = "helped" if expected - k * sd > 0 else "hurt" if expected + k * sd < 0 else "unsure"
    half = calibration["interval_z"] * sd
    reason = _reason(fit, features, 1.0 if verdict == "helped" else -1.0) if verdict != "unsure" else \
        f"the expected gain ({expected:+.1f} dB) is within the model's error (±{k * sd:.1f} dB)"
    return {"verdict": verdict, "expected_gain_db": round(expected, 3), "interval_db": [round(expected - half, 3), round(expected + half, 3)],
            "reason": reason, "evidence": {f: round(float(v), 4) for f, v in features.items() if isinstance(v, (int, float))}}


def verdict_label(row: dict[str, Any]) -> str:
    """A verdict in words: "likely helped, +1.2 dB ± 0.6", "likely made it worse, -0.8 dB ± 0.5", "can't tell"."""
    if row["verdict"] == "unsure" or row["expected_gain_db"] is None:
        return "can't tell"
    half = (row["interval_db"][1] - row["interval_db"][0]) / 2
    words = "likely helped" if row["verdict"] == "helped" else "likely made it worse"
    return f"{words}, {row['expected_gain_db']:+.1f} dB ± {half:.1f}"


def assess_image(loaded: LoadedImage, scale: int, methods: list[str], *, lr_kind: str = DEFAULT_KIND,
                 calibration: dict[str, Any] | None = None, **options) -> tuple[dict[str, dict[str, Any]], Gathered]:
    """{method: verdict} for one LR image (bicubic, the baseline, gets none), and what it was based on."""
    calibration = calibration or load_calibration()
    gathered = gather(loaded, scale, methods, lr_kind=lr_kind, ensemble=calibration.get("ensemble", ENSEMBLE), **options)
    return verdicts(gathered, scale, lr_kind, calibration), gathered


def verdicts(gathered: Gathered, scale: int, lr_kind: str, calibration: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """{method: :func:`predict`} over the :func:`evidence` of ``gathered``."""
    calibration = calibration or load_calibration()
    rows = {name: predict(name, lr_kind, values, calibration) for name, values in evidence(gathered, scale).items()}
    for name, row in rows.items():
        row["calibration"] = calibration_status(name, scale, lr_kind, gathered.results[name].served.sha256, calibration)
        if row["calibration"] != CALIBRATED:  # every place that shows the reason shows this too
            row["reason"] += f" ({row['calibration']})"
    return rows


def region_spread(lr: np.ndarray, method: Any, scale: int, rows: slice, cols: slice, *, count: int = ENSEMBLE,
                  context: int = 2 * WINDOW_MARGIN, **options) -> np.ndarray:
    """The uncertainty map of ``method`` over LR ``rows`` × ``cols``: its self-ensemble spread (8-bit
    levels, SR pixels of the region), run on the region with ``context`` LR px around it so that
    the region's edges see what they see in the whole image."""
    top, left = max(rows.start - context, 0), max(cols.start - context, 0)
    bottom, right = min(rows.stop + context, lr.shape[0]), min(cols.stop + context, lr.shape[1])
    spread = ensemble_spread(self_ensemble(lr[top:bottom, left:right], method, scale, count, **options))
    row, col = (rows.start - top) * scale, (cols.start - left) * scale
    return spread[row : row + (rows.stop - rows.start) * scale, col : col + (cols.stop - cols.start) * scale]


def disagreement(gathered: Gathered, method: str) -> np.ndarray:
    """Where ``method`` departs from the other methods' consensus by more than the LR's noise (8-bit levels, 0 elsewhere)."""
    images = {name: result.image for name, result in gathered.results.items()}
    return disagreement_map(consensus_departure(images, method), gathered.facts.noise_levels)


def assess_paths(path: str | Path, scale: int, methods: list[str], *, lr_kind: str = DEFAULT_KIND,
                 **options) -> tuple[dict[str, dict[str, dict[str, Any]]], list[Gathered]]:
    """:func:`assess_image` of one LR file or every image in a folder: {file name: {method: verdict}}."""
    check_methods([BASELINE] + list(methods), scale, lr_kind)
    path = Path(path)
    files = list_images(path) if path.is_dir() else [path]
    calibration = load_calibration()
    report, gathered = {}, []
    for file in files:
        verdicts, evidence_of = assess_image(load_image(file), scale, methods, lr_kind=lr_kind, calibration=calibration, **options)
        report[file.name] = verdicts
        gathered.append(evidence_of)
    return report, gathered


#: The features the shipped fit uses (chosen on val by ``bench/assess_calibration.py``'s leave-one-image-out check).
DEFAULT_FEATURES = ("consistency_gain_db", "consistency_bicubic_db", "consistency_microscope_db", "chroma_change", "change",
                    "spread", "departure", "noise", "resolution")
#: Ridge penalty on the standardised features: ~50 val rows per fit would overfit nine slopes.
RIDGE = 3.0
#: z of a central 80 % normal interval.
INTERVAL_Z = 1.2816
#: Largest share of val pairs the decision rule may leave unsure: on val (leave one image out) a
#: tenth left unsure kept the decided signs 97 % right and 87 % of all clear pairs right; a quarter
#: raised the first to 99 % but dropped the second to 75 %.
UNSURE_SHARE = 0.10


def _ridge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(coefficients in the features' units, means, intercept, leave-one-out residuals) of a ridge fit."""
    means, scales = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - means) / scales
    design = np.hstack([np.ones((len(z), 1)), z])
    penalty = np.diag([0.0] + [RIDGE] * z.shape[1])
    inverse = np.linalg.inv(design.T @ design + penalty)
    beta = inverse @ design.T @ y
    hat = np.einsum("ij,jk,ik->i", design, inverse, design)
    loo = (y - design @ beta) / np.maximum(1 - hat, 1e-6)
    return beta[1:] / scales, means, float(beta[0]), loo


def fit_calibration(rows: list[dict[str, Any]], features: tuple[str, ...] = DEFAULT_FEATURES, command: str = "",
                    weights: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Fit the verdict model on val ``rows`` (evidence + ``true_gain_db``, ``method``, ``lr_kind``):
    a ridge fit per method and LR kind and a pooled one per kind, their leave-one-out residual sd,
    and the decision k that leaves at most :data:`UNSURE_SHARE` of the pairs unsure (leave-one-out too).
    ``weights`` ({:func:`weights_key`: sha256}) names the weights that computed the rows."""
    fits, expected, sds = {}, [], []
    groups = {(r["method"], r["lr_kind"]) for r in rows} | {("*", r["lr_kind"]) for r in rows}
    for method, kind in sorted(groups):
        chosen = [r for r in rows if r["lr_kind"] == kind and method in ("*", r["method"])]
        x = np.array([[r[f] for f in features] for r in chosen], dtype=np.float64)
        y = np.array([r["true_gain_db"] for r in chosen], dtype=np.float64)
        coefficients, means, intercept, loo = _ridge(x, y)
        sd = float(np.sqrt(np.mean(loo**2)))
        fits[f"{method}@{kind}"] = {"intercept": intercept, "coefficients": dict(zip(features, coefficients.tolist())),
                                    "means": dict(zip(features, means.tolist())), "residual_sd": sd, "n": len(chosen)}
        if method != "*":
            expected += list(y - loo)
            sds += [sd] * len(y)
    expected_a, sd_a = np.array(expected), np.array(sds)
    k = max((k for k in np.arange(0.0, 3.01, 0.05) if np.mean(np.abs(expected_a) <= k * sd_a) <= UNSURE_SHARE), default=0.0)
    return {"command": command, "features": list(features), "ridge": RIDGE, "ensemble": ENSEMBLE, "ensemble_side": ENSEMBLE_SIDE,
            "interval_z": INTERVAL_Z, "decision_k": round(float(k), 2), "weights": dict(sorted((weights or {}).items())), "fits": fits}


def accuracy_table(rows: list[dict[str, Any]], calibration: dict[str, Any]) -> str:
    """Markdown: per pipeline and in all, how often the verdicts of ``rows`` got the sign of the true gain."""
    lines = ["| pipeline | pairs | true gain ≥ 0.5 dB from 0 | sign right (decided) | right of all ≥ 0.5 | unsure | true gain in interval | mean abs error (dB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    pipelines = list(dict.fromkeys(r["pipeline"] for r in rows))
    for pipeline in pipelines + ["all"]:
        chosen = [r for r in rows if pipeline in ("all", r["pipeline"])]
        verdicts = [predict(r["method"], r["lr_kind"], r, calibration) for r in chosen]
        truth = np.array([r["true_gain_db"] for r in chosen])
        expected = np.array([v["expected_gain_db"] for v in verdicts])
        sign = np.array([{"helped": 1, "hurt": -1, "unsure": 0}[v["verdict"]] for v in verdicts])
        clear = np.abs(truth) >= 0.5
        decided = clear & (sign != 0)
        right = sign == np.sign(truth)
        inside = np.mean([v["interval_db"][0] <= t <= v["interval_db"][1] for v, t in zip(verdicts, truth)])
        lines.append(f"| {pipeline} | {len(chosen)} | {clear.sum()} | {right[decided].mean():.0%} ({decided.sum()}) | "
                     f"{right[clear].mean():.0%} | {np.mean(sign == 0):.0%} | {inside:.0%} | {np.mean(np.abs(expected - truth)):.2f} |")
    return "\n".join(lines)
