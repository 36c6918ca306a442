"""How long each method took on this machine, to estimate the next run (the Run button).

Each finished run adds its seconds per LR megapixel under (method, scale, device, backend,
precision) to ``<MicroSR home>/timings.json``; an estimate is the median of the last
``KEEP`` rates of that key times the new image's megapixels. Writes replace the file
atomically, so a reader never sees half of it; two sessions finishing at the same moment may
lose one record, which only makes an estimate a little older.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from .inference import SRResult
from ..paths import home_dir

#: Rates kept per key: recent enough to follow the machine's load, enough to smooth it.
KEEP = 5


def _path() -> Path:
    return home_dir() / "timings.json"


def _key(method: str, scale: int, device: str) -> str:
    return f"{method}|x{scale}|{device}"


def _read() -> dict[str, list[float]]:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: estimates start again
    return {k: [float(v) for v in values] for k, values in data.items() if isinstance(values, list)} if isinstance(data, dict) else {}


def record(result: SRResult, lr_pixels: int) -> None:
    """Remember how long ``result`` took for an LR image of ``lr_pixels`` pixels."""
    if lr_pixels <= 0:
        return
    data = _read()
    key = _key(result.method, result.scale, result.device.split(":")[0])
    data[key] = (data.get(key, []) + [result.seconds / (lr_pixels / 1e6)])[-KEEP:]
    partial = _path().with_name(f"timings.{os.getpid()}.partial")
    partial.write_text(json.dumps(data))
    partial.replace(_path())


def estimates(methods: list[str], scale: int, device: str, lr_pixels: int) -> dict[str, float | None]:
    """Seconds each of ``methods`` should take at ``scale`` on ``device`` for ``lr_pixels``
    (None: never timed here), from one read of the file."""
    data = _read()
    rates = {method: data.get(_key(method, scale, device)) for method in methods}
    return {method: statistics.median(r) * lr_pixels / 1e6 if r else None for method, r in rates.items()}


def estimate(method: str, scale: int, device: str, lr_pixels: int) -> float | None:
    """:func:`estimates` of one method."""
    return estimates([method], scale, device, lr_pixels)[method]
