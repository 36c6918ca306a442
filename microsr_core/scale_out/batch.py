"""Every image of a folder (or an uploaded ZIP) × every method, one Dask task per output file.

Outputs are ``<input stem>.<method>.x<scale>.png`` (``.tif`` for TIFF inputs), at the input's
bit depth, with what made them in the file (PNG text chunks, TIFF ImageDescription): method,
scale, LR kind, weights entry, file and sha256, precision, the input's name, and with an HR
folder the image's :data:`~microsr_core.comparison.evaluate.PER_IMAGE_FIELDS`. Each file is written to a
temporary name and renamed (:func:`~microsr_core.imaging.io.save_image`), so an output that
exists is complete: ``resume`` skips it, reading its metrics back from the file, and
recomputes an output that lacks the metrics an HR folder now asks for.

An input that is not a readable image (or has no HR twin) is reported in its record and the
rest go on; a full disk stops the run with a :class:`~microsr_core.errors.StorageError`.

Without an HR folder neither the client nor the workers import the comparison wing (nor the
client torch): its metrics are imported where an HR folder asks for them.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ImageError, ParameterError
from ..imaging.data import IMAGE_SUFFIXES, list_images
from ..imaging.io import load_image, read_metadata, save_image
from ..imaging.metrics import measure
from ..models.serving import DEFAULT_KIND
from ..uploads import UPLOAD_PREFIX, unpack_zip, uploads_dir
from .cluster import Resolved, resolve_on_a_worker, run_tasks, worker_method
from .outputs import writing


@dataclass(frozen=True)
class BatchItem:
    """One output to make: ``method`` on LR image ``image``, written to ``output``."""

    image: Path
    method: str
    output: Path


@dataclass
class BatchRecord:
    """What became of one :class:`BatchItem`: ``status`` is ``done``, ``skipped`` (finished by an
    earlier run) or ``failed`` (``error`` says why); ``metrics`` with an HR folder; ``worker`` is
    the process id that computed it."""

    image: str
    method: str
    output: str
    status: str
    error: str | None = None
    metrics: dict[str, float] | None = None
    worker: int | None = None
    seconds: float = 0.0


@dataclass
class BatchReport:
    records: list[BatchRecord] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(record.status == status for record in self.records)

    def per_image_csv(self) -> str:
        """The metrics as ``evaluate --per-image``'s CSV (:func:`~microsr_core.comparison.evaluate.per_image_csv`)."""
        from ..comparison.evaluate import per_image_csv

        report: dict[str, dict[str, Any]] = {}
        for record in self.records:
            if record.metrics is not None:
                report.setdefault(record.method, {"per_image": {}})["per_image"][record.image] = record.metrics
        return per_image_csv(report)


def batch_inputs(source: str | Path) -> list[Path]:
    """The images of folder ``source``, or of ZIP ``source`` unpacked safely under the MicroSR home
    (:func:`~microsr_core.uploads.unpack_zip`: no paths leaving it, size and count limits)."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".zip":
        folder = uploads_dir() / unpack_zip(path, path.name)[len(UPLOAD_PREFIX):]
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not path.is_dir():
        raise ParameterError(f"{source}: neither a folder of images nor a .zip")
    return list_images(path)


def output_name(image: Path, method: str, scale: int) -> str:
    """``cell.vdsr.x2.png``: the input's stem, the method (``@`` as ``-``), the scale; TIFF stays TIFF."""
    suffix = ".tif" if image.suffix.lower() in (".tif", ".tiff") else ".png"
    return f"{image.stem}.{re.sub(r'[^A-Za-z0-9_.-]', '-', method)}.x{scale}{suffix}"


def plan_batch(images: list[Path], methods: list[str], scale: int, out_dir: str | Path) -> list[BatchItem]:
    """One item per image × method; two inputs that would share an output name are refused."""
    items, seen = [], {}
    for image in images:
        for method in methods:
            output = Path(out_dir) / output_name(image, method, scale)
            if output in seen:
                raise ParameterError(f"{image} and {seen[output]} would both write {output.name}: rename one")
            seen[output] = image
            items.append(BatchItem(image, method, output))
    return items


def _metrics(lr: np.ndarray, sr: np.ndarray, image: Path, hr_dir: Path, scale: int) -> dict[str, float]:
    from ..comparison.evaluate import BicubicBaseline, find_companion, per_image_row, reference_crop
    from ..models.inference import upscale

    hr = reference_crop(load_image(find_companion(hr_dir, image.stem, "HR image")).pixels, lr.shape, scale, image.name)
    bicubic = upscale(lr, "bicubic", scale).image
    return per_image_row(measure(sr, hr, crop_border=scale), sr, BicubicBaseline.of(bicubic, hr, scale), hr, scale)


def upscale_item(item: BatchItem, scale: int, lr_kind: str, precision: str, provenance: dict[str, str],
                 hr_dir: Path | None) -> BatchRecord:
    """The task: super-resolve one input with one method on this worker's cached model and write
    the output with its ``provenance`` (and metrics against ``hr_dir``'s twin)."""
    from ..models.inference import upscale  # here, not at the top: the client, which imports this module, runs no network

    start = time.perf_counter()
    try:
        loaded = load_image(item.image)
        metrics = None
        method = worker_method(item.method, scale, lr_kind, provenance["weights_sha256"] or None)
        result = upscale(loaded.pixels, method, scale, precision=precision)
        if hr_dir is not None:
            metrics = _metrics(loaded.pixels, result.image, item.image, hr_dir, scale)
    except (ImageError, ParameterError) as exc:  # this input only: report it, the others go on
        return BatchRecord(item.image.name, item.method, str(item.output), "failed", str(exc), worker=os.getpid())
    text = {**provenance, "precision": result.precision, **{key: repr(float(value)) for key, value in (metrics or {}).items()}}
    with writing(item.output):
        save_image(item.output, result.image, loaded.bit_depth, text)
    return BatchRecord(item.image.name, item.method, str(item.output), "done", None, metrics, os.getpid(),
                       time.perf_counter() - start)


def finished(item: BatchItem, needs_metrics: bool) -> BatchRecord | None:
    """The record of an output an earlier run completed (None: it must be made), its metrics read back from it."""
    if not item.output.is_file():
        return None
    try:
        text = read_metadata(item.output)
    except ImageError:
        return None
    if text.get("method") != item.method:
        return None
    if not needs_metrics:
        return BatchRecord(item.image.name, item.method, str(item.output), "skipped")
    from ..comparison.evaluate import PER_IMAGE_FIELDS  # only with an HR folder (the comparison wing imports torch)

    if not all(key in text for key in PER_IMAGE_FIELDS):
        return None
    return BatchRecord(item.image.name, item.method, str(item.output), "skipped", None, {key: float(text[key]) for key in PER_IMAGE_FIELDS})


def _provenance(method: str, scale: int, lr_kind: str, weights: Resolved) -> dict[str, str]:
    return {"method": method, "scale": str(scale), "lr_kind": lr_kind, "weights_entry": weights.entry or "",
            "weights_file": weights.file or "", "weights_sha256": weights.sha256 or "", "software": "MicroSR"}


def run_batch(client, source: str | Path, methods: list[str], scale: int, out_dir: str | Path, *,
              hr_dir: str | Path | None = None, lr_kind: str = DEFAULT_KIND, precision: str = "auto",
              resume: bool = False, progress: Callable[[int, int, BatchRecord], None] | None = None) -> BatchReport:
    """Super-resolve every image of ``source`` (folder or ZIP) with every method on ``client``.

    Parameters
    ----------
    client : distributed.Client
        From :func:`~microsr_core.scale_out.cluster.open_client`.
    hr_dir : folder, optional
        HR references with the inputs' stems: each record gets the per-image metrics.
    resume : bool
        Skip outputs a previous run finished (:func:`finished`).
    progress : callable(done, total, record), optional
        Called as each output is finished or skipped.

    Raises
    ------
    ParameterError
        A method that does not serve ``scale`` for ``lr_kind``, a bad source, clashing names.
    StorageError
        The disk filled up: the finished outputs stay, ``resume`` continues.
    """
    items = plan_batch(batch_inputs(source), methods, scale, out_dir)
    hr = Path(hr_dir) if hr_dir is not None else None
    if hr is not None and not hr.is_dir():
        raise ParameterError(f"--hr {hr_dir}: not a folder")
    resolved = resolve_on_a_worker(client, methods, scale, lr_kind, precision)
    provenance = {method: _provenance(method, scale, lr_kind, resolved[method]) for method in methods}
    done = {item: finished(item, hr is not None) for item in items} if resume else {}
    report = BatchReport([record for record in done.values() if record is not None])
    for index, record in enumerate(report.records, 1):
        if progress:
            progress(index, len(items), record)
    todo = [item for item in items if done.get(item) is None]
    skipped = len(report.records)

    def step(count: int, _total: int, record: BatchRecord) -> None:
        if progress:
            progress(skipped + count, len(items), record)

    report.records += run_tasks(client, upscale_item,
                                [(item, scale, lr_kind, resolved[item.method].precision, provenance[item.method], hr) for item in todo], step)
    return report
