"""The project's quality benchmark: methods × a folder of HR images -> PSNR/SSIM and speed.

LR images are made from the HR ones with a :class:`~microsr_core.imaging.degrade.Degradation`, or
read from a folder of real LR images with the same names. Every method runs on every image;
metrics follow :mod:`microsr_core.imaging.metrics` (Y, border = scale) and are averaged per image.

The JSON written by ``python -m microsr_core evaluate --json`` is
``{"<method>": {"psnr_y": …, "ssim_y": …, "seconds_per_image": …, "n": …, "weights_entry": …,
"weights_sha256": …, "lr_kind": …, …}}`` (the weights that computed it, :mod:`microsr_core.models.serving`;
``null`` entry and checksum for a method without a network), with ``--per-image`` also
``"per_image": {"<file name>": {"psnr_y": …, "ssim_y": …, "gain_db": …, "invented_colour_pct": …, "nucleus_dice": …,
"cell_count_diff": …, "nucleus_area_error_pct": …, "nc_ratio_error": …, "capture_noise": …, "capture_noise_low": …, …}}``
(the LR's capture condition estimated from its pixels, :data:`~microsr_core.imaging.capture_condition.ROW_FIELDS`,
``null`` where too small to tell); every entry also has the mean of those four
clinical-agreement fields (:func:`microsr_core.imaging.segment.agreement`: the project's segmenter on the HR and on the
result); keep it stable.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ParameterError
from .compare import BASELINE
from ..imaging.capture_condition import ROW_FIELDS, estimate_condition
from ..imaging.capture_maps import CaptureAssumption
from ..imaging.capture_family import PIPELINES, pipeline_degradation
from ..imaging.data import list_images, split_of
from ..imaging.degrade import Degradation, MicroscopeCapture
from ..imaging.io import load_image
from ..imaging.metrics import convention, delta_e_map, gradient_energy_ratio, invented_colour_share, iou_per_class, measure, psnr_y
from ..imaging.parsing import CLASSES, labels_of, mask_to_labels
from ..imaging.segment import AGREEMENT_FIELDS, Segmentation, agreement, segment
from ..models.catalog import check_methods
from ..models.inference import get_method, upscale
from ..models.serving import DEFAULT_KIND


def find_companion(folder: Path, stem: str, what: str) -> Path:
    """The file named ``stem.*`` in ``folder`` (an image's LR, HR or mask twin)."""
    matches = [p for p in folder.glob(stem + ".*") if p.is_file()]
    if not matches:
        raise ParameterError(f"{folder}: no {what} named {stem}.*")
    return matches[0]


def _pair(hr_path: Path, scale: int, degradation: Degradation, lr_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    hr = load_image(hr_path).pixels
    if lr_dir is None:
        return degradation.apply(hr), degradation.reference(hr)
    lr = load_image(find_companion(lr_dir, hr_path.stem, "LR image")).pixels
    return lr, reference_crop(hr, lr.shape, scale, hr_path.name)


def reference_crop(hr: np.ndarray, lr_shape: tuple[int, ...], scale: int, name: str) -> np.ndarray:
    """The HR reference of a real LR image: its top-left LR × ``scale`` pixels (refused when smaller)."""
    need = (lr_shape[0] * scale, lr_shape[1] * scale)
    if hr.shape[0] < need[0] or hr.shape[1] < need[1]:
        raise ParameterError(f"{name}: HR {hr.shape[1]}x{hr.shape[0]} is smaller than LR x{scale}")
    return hr[: need[0], : need[1]]


def _mask(mask_dir: Path, stem: str, shape: tuple[int, int]) -> np.ndarray:
    """The mask's grey levels in [0, 1], cropped like the HR image (nonzero = the cell).

    Masks in the ``wbc_seg`` coding (0 background, 128 cytoplasm, 255 nucleus) also serve as
    the reference for methods that return a parsing map (:mod:`microsr_core.parsing`).
    """
    mask = load_image(find_companion(mask_dir, stem, "mask")).pixels[:, :, 0]
    return mask[: shape[0], : shape[1]]


def _checked_files(hr_dir: str | Path, scale: int, methods: list[str], lr_kind: str, split: str, limit: int | None) -> list[Path]:
    """The images to evaluate on, after refusing a method that does not serve ``scale`` for ``lr_kind``."""
    check_methods(methods, scale, lr_kind)
    files = list_images(hr_dir)
    if split != "all":
        files = [f for f in files if split_of(f) == split]
    files = files[:limit] if limit else files
    if not files:
        raise ParameterError(f"{hr_dir}: no images left after split '{split}' and limit {limit}")
    return files


def _degradation(name: str, scale: int, capture: str | None) -> Degradation:
    if capture and name != "microscope":
        raise ParameterError("capture parameters need the microscope degradation")
    if name in PIPELINES:
        return pipeline_degradation(name, scale)
    return Degradation(name, scale, capture=MicroscopeCapture.from_text(capture))


def _measure(result: Any, hr: np.ndarray, scale: int, mask: np.ndarray | None, cells: Segmentation) -> dict[str, float]:
    """One image's metrics of one method's ``result`` (an :class:`~microsr_core.models.inference.SRResult`),
    with its clinical agreement with the HR's segmentation ``cells`` (:func:`~microsr_core.imaging.segment.agreement`)."""
    row = measure(result.image, hr, crop_border=scale, mask=None if mask is None else mask > 0)
    row.update(agreement(result.image, hr, cells))
    row["sharpness"] = gradient_energy_ratio(result.image, hr, scale)
    if mask is not None and "parsing" in result.maps:
        ious = iou_per_class(labels_of(result.maps["parsing"]), mask_to_labels(mask), len(CLASSES))
        row["miou"] = float(np.nanmean(ious))
        row.update({f"iou_{name}": float(value) for name, value in zip(CLASSES, ious)})
    row["seconds"] = result.seconds
    return row


def _entry(values: list[dict[str, float]], result: Any, lr_kind: str, scale: int, lr_source: str, masked: bool,
           assumption: CaptureAssumption | None = None) -> dict[str, Any]:
    """A method's report entry: its per-image rows averaged, with the weights and precision that ran
    (and, for weights that read capture maps, the noise and blur they assumed)."""
    finite = {key: [v[key] for v in values if not math.isnan(v[key])] for key in values[0]}
    mean = {key: float(np.mean(found)) if found else math.nan for key, found in finite.items()}  # NaN: no image had it (no cell)
    return {
        "psnr_y": mean["psnr_y"],
        "ssim_y": mean["ssim_y"],
        "seconds_per_image": mean.pop("seconds"),
        "precision": result.precision,
        "n": len(values),
        "weights_entry": result.served.entry,
        "weights_sha256": result.served.sha256,
        "lr_kind": lr_kind,
        "psnr_rgb": mean["psnr_rgb"],
        "ssim_rgb": mean["ssim_rgb"],
        **({"psnr_y_mask": mean["psnr_y_mask"], "ssim_y_mask": mean["ssim_y_mask"]} if masked else {}),
        "sharpness": mean["sharpness"],
        **{key: mean[key] for key in AGREEMENT_FIELDS},
        **({"invented_colour_pct": mean["invented_colour_pct"], "invented_colour_pct_max": max(v["invented_colour_pct"] for v in values)}
           if "invented_colour_pct" in mean else {}),
        **{key: mean[key] for key in ("miou", *(f"iou_{name}" for name in CLASSES)) if key in mean},
        "scale": scale,
        "lr": lr_source,
        "convention": convention(scale),
        **({"capture_maps": (assumption or CaptureAssumption()).describe()} if result.capture_maps is not None else {}),
    }


def evaluate_folder(
    hr_dir: str | Path,
    scale: int,
    methods: list[str],
    *,
    degradation: str = "bicubic",
    capture: str | None = None,
    lr_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    limit: int | None = None,
    split: str = "all",
    device: str = "auto",
    tile: int | None = None,
    precision: str = "auto",
    lr_kind: str = DEFAULT_KIND,
    per_image: bool = False,
    progress: Callable[[int, int], None] | None = None,
    assumption: CaptureAssumption | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``methods`` on every image of ``hr_dir`` and average their metrics per image.

    ``split`` selects ``all`` images or one part of :func:`microsr_core.imaging.data.split_of`:
    ``test`` (what results report), ``val`` (what trainers select on) or ``train``.
    ``precision`` is the networks' (:func:`~microsr_core.models.inference.upscale`); each method's
    entry records the one it ran in. ``lr_kind`` picks the weights (:data:`~microsr_core.models.serving.LR_KINDS`);
    each entry records the weights that computed it. ``degradation`` is a kind of
    :class:`~microsr_core.imaging.degrade.Degradation` or a pipeline of :data:`~microsr_core.imaging.capture_family.PIPELINES`; ``capture``
    sets the ``microscope`` degradation's parameters (:meth:`~microsr_core.imaging.degrade.MicroscopeCapture.from_text`).
    Noise is seeded by each file's name, so every image has its own and a rerun the same.
    Every entry has the clinical agreement of the results with the HR (:data:`~microsr_core.imaging.segment.AGREEMENT_FIELDS`,
    the segmenter run on both). With ``per_image`` each entry has ``"per_image": {file name: {field: value}}``
    (:data:`PER_IMAGE_FIELDS`: ``gain_db`` over bicubic on the same LR; invented colour as
    :func:`~microsr_core.imaging.metrics.invented_colour`; then the LR's estimated capture condition,
    :data:`~microsr_core.imaging.capture_condition.ROW_FIELDS`), and the mean and worst invented colour.
    ``progress(done, total)`` is called after each image. ``assumption`` is the noise and blur that
    weights trained with capture maps assume (:func:`_assumptions`; their entries name it as ``capture_maps``).
    """
    files = _checked_files(hr_dir, scale, methods, lr_kind, split, limit)
    deg = _degradation(degradation, scale, capture)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    images: dict[str, dict[str, dict[str, float]]] = {name: {} for name in methods}
    last: dict[str, Any] = {}
    assumptions = _assumptions(methods, scale, device, lr_kind, assumption)
    for done, path in enumerate(files, 1):
        lr, hr = _pair(path, scale, replace(deg, seed=zlib.crc32(path.name.encode())), Path(lr_dir) if lr_dir else None)
        mask = _mask(Path(mask_dir), path.stem, hr.shape[:2]) if mask_dir else None
        cells = segment(hr)
        condition = estimate_condition(lr) if per_image else None  # else made by upscale where weights read it
        for name in methods:
            last[name] = upscale(lr, name, scale, device=device, tile=tile, precision=precision, lr_kind=lr_kind,
                                 capture=assumptions[name], condition=condition)
        # the baseline of the per-image gains, measured once an image: the bicubic result when it is one of the methods
        if per_image:
            bicubic = BicubicBaseline.of((last[BASELINE] if BASELINE in methods else upscale(lr, BASELINE, scale)).image, hr, scale)
        for name in methods:
            row = _measure(last[name], hr, scale, mask, cells)
            if per_image:
                images[name][path.name] = {**per_image_row(row, last[name].image, bicubic, hr, scale), **condition.row()}
                row["invented_colour_pct"] = images[name][path.name]["invented_colour_pct"]
            rows[name].append(row)
        if progress is not None:
            progress(done, len(files))
    lr_source = f"real LR images from {lr_dir}" if lr_dir else deg.describe().replace("(seed 0)", "(seed: CRC32 of each file name)")
    report = {name: _entry(values, last[name], lr_kind, scale, lr_source, bool(mask_dir), assumptions[name]) for name, values in rows.items()}
    if per_image:
        for name in methods:
            report[name]["per_image"] = images[name]
    return report


def _assumptions(methods: list[str], scale: int, device: str, lr_kind: str, assumption: CaptureAssumption | None) -> dict[str, CaptureAssumption | None]:
    """Each method's capture assumption: ``assumption`` for weights that read capture maps, none for
    the others (bicubic, the baseline, reads none); an override that no method reads is refused."""
    readers = {name for name in methods if get_method(name, device, lr_kind).reads_capture_maps(scale)}
    if assumption is not None and assumption.overridden and not readers:
        raise ParameterError(f"none of {', '.join(methods)} reads capture maps at x{scale}: the noise/blur assumption "
                             f"({assumption.describe()}) applies only to weights trained with --capture-maps true")
    return {name: assumption if name in readers else None for name in methods}


#: The columns of a per-image row: quality, gain over bicubic, invented colour, then the clinical
#: agreement with the HR (:data:`~microsr_core.imaging.segment.AGREEMENT_FIELDS`).
PER_IMAGE_FIELDS = ("psnr_y", "ssim_y", "gain_db", "invented_colour_pct", *AGREEMENT_FIELDS)


@dataclass(frozen=True)
class BicubicBaseline:
    """Bicubic's result on one image, measured once for every method's :func:`per_image_row`: its
    PSNR on Y and its per-pixel ΔE00 (:func:`~microsr_core.imaging.metrics.delta_e_map`) against the HR."""

    psnr_y: float
    delta_e: np.ndarray

    @classmethod
    def of(cls, bicubic: np.ndarray, hr: np.ndarray, scale: int) -> "BicubicBaseline":
        """The baseline of the ``bicubic`` upscale of an LR image against its ``hr`` (border ``scale`` cropped)."""
        return cls(psnr_y(bicubic, hr, scale), delta_e_map(bicubic, hr, scale))


def per_image_row(measured: dict[str, float], sr: np.ndarray, bicubic: BicubicBaseline, hr: np.ndarray, scale: int) -> dict[str, float]:
    """One image's :data:`PER_IMAGE_FIELDS`: its ``measured`` PSNR/SSIM on Y (:func:`~microsr_core.imaging.metrics.measure`),
    the gain over ``bicubic`` on the same LR, the colour ``sr`` invents (:func:`~microsr_core.imaging.metrics.invented_colour`)
    and the clinical agreement with the HR (``measured``'s where it has them, else :func:`~microsr_core.imaging.segment.agreement`)."""
    agreed = {key: measured[key] for key in AGREEMENT_FIELDS} if all(key in measured for key in AGREEMENT_FIELDS) else agreement(sr, hr)
    return {"psnr_y": measured["psnr_y"], "ssim_y": measured["ssim_y"], "gain_db": measured["psnr_y"] - bicubic.psnr_y,
            "invented_colour_pct": invented_colour_share(delta_e_map(sr, hr, scale), bicubic.delta_e), **agreed}


def per_image_csv(report: dict[str, dict[str, Any]]) -> str:
    """The ``per_image`` rows of an :func:`evaluate_folder` report as CSV: method, image, then :data:`PER_IMAGE_FIELDS`,
    then the capture condition's :data:`~microsr_core.imaging.capture_condition.ROW_FIELDS` where the rows have them
    (an empty cell: too small to tell)."""
    rows = [(name, image, row) for name, entry in report.items() for image, row in entry.get("per_image", {}).items()]
    fields = PER_IMAGE_FIELDS + (ROW_FIELDS if any(ROW_FIELDS[0] in row for _, _, row in rows) else ())
    lines = [",".join(("method", "image") + fields)]
    for name, image, row in rows:
        quoted = '"' + image.replace('"', '""') + '"' if any(c in image for c in ',"') else image
        lines.append(",".join([name, quoted] + ["" if row[field] is None else f"{row[field]:.5g}" for field in fields]))
    return "\n".join(lines) + "\n"


def format_table(report: dict[str, dict[str, Any]], args: Any = None) -> str:
    """A plain-text table of an :func:`evaluate_folder` report."""
    masked = any("psnr_y_mask" in row for row in report.values())
    parsed = any("miou" in row for row in report.values())
    header = f"{'method':<14}{'PSNR-Y':>9}{'SSIM-Y':>9}{'PSNR-RGB':>10}" + (f"{'PSNR-Y cell':>12}" if masked else "")
    header += (f"{'mIoU':>7}" if parsed else "") + f"{'Dice-N':>8}{'s/image':>10}{'n':>5}"
    lines = [header, "-" * len(header)]
    for name, row in report.items():
        line = f"{name:<14}{row['psnr_y']:>9.3f}{row['ssim_y']:>9.4f}{row['psnr_rgb']:>10.3f}"
        if masked:
            line += f"{row['psnr_y_mask']:>12.3f}"
        if parsed:
            line += f"{row['miou']:>7.3f}" if "miou" in row else f"{'-':>7}"
        lines.append(line + f"{row['nucleus_dice']:>8.3f}{row['seconds_per_image']:>10.3f}{row['n']:>5}")
    first = next(iter(report.values()))
    lines += ["", f"LR: {first['lr']}", f"metrics: {first['convention']}",
              "Dice-N: nucleus Dice of the project's segmenter on the result against on the HR (microsr_core.imaging.segment)"]
    return "\n".join(lines)
