"""The comparison's downloads: metrics as CSV, and the ZIP of results, metrics and settings
(:func:`archive` of an :class:`~microsr_core.comparison.outcome.Outcome`)."""

from __future__ import annotations

import csv
import io as _io
import json
import math
import re
import zipfile
from typing import Any, Iterable

import numpy as np

from .outcome import Outcome, settings_record
from ..imaging.io import encode_image


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    return value


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV text of a list of flat dicts (columns in first-seen order)."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _clean(row.get(key)) for key in columns})
    return buffer.getvalue()


def build_zip(images: dict[str, bytes], rows: list[dict[str, Any]], settings: dict[str, Any]) -> bytes:
    """A ZIP of lossless images (``name -> PNG bytes``), ``metrics.csv``, ``metrics.json`` and
    ``settings.json`` (conventions, degradation, devices, versions: what is needed to redo it)."""
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in images.items():
            archive.writestr(name, data)
        archive.writestr("metrics.csv", rows_to_csv(rows))
        archive.writestr("metrics.json", json.dumps([{k: _clean(v) for k, v in row.items()} for row in rows], indent=2) + "\n")
        archive.writestr("settings.json", json.dumps({k: _clean(v) for k, v in settings.items()}, indent=2, default=str) + "\n")
    return buffer.getvalue()


def archive_images(outcome: Outcome) -> dict[str, bytes]:
    """The ZIP's images: the LR, every result and the reference losslessly at the input's depth, and
    every map the page drew (verdict maps included) as shown, under ``maps/`` in page order."""
    inputs, depth = outcome.inputs, outcome.inputs.bit_depth
    images = {"lr_input.png": encode_image(inputs.lr, "png", depth)}
    images.update({f"{m}_x{outcome.settings.scale}.png": encode_image(r.image, "png", depth) for m, r in outcome.results.items()})
    if outcome.reference is not None:
        images["hr_reference.png"] = encode_image(outcome.reference.hr, "png", depth)
    images.update({f"maps/{index:02d}_{re.sub(r'[^A-Za-z0-9]+', '_', view.caption)[:60].strip('_')}.png": encode_image(view.image, "png", 8)
                   for index, view in enumerate(outcome.shown_maps())})
    return images


def archive(outcome: Outcome) -> bytes:
    """The ZIP of everything (:func:`build_zip`): images, the metrics rows and the settings record."""
    return build_zip(archive_images(outcome), outcome.rows, settings_record(outcome))
