"""The comparison's downloads: metrics as CSV, and the ZIP of results, metrics and settings."""

from __future__ import annotations

import csv
import io as _io
import json
import math
import zipfile
from typing import Any, Iterable

import numpy as np


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
