"""Finding and reading the benchmark reports shown on the app's Benchmarks page.

Two sources, both optional: ``docs/results.md`` (the written-up results) and the JSON files
that ``python -m microsr_core evaluate --json`` writes (see :mod:`microsr_core.evaluate` for
their schema), anywhere under ``docs/`` or ``bench/``. Files that are not evaluate reports
are skipped and listed, never guessed at.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import PROJECT_ROOT

#: Keys every method entry of an evaluate report has.
REQUIRED_KEYS = ("psnr_y", "ssim_y", "seconds_per_image", "n")


@dataclass
class EvaluateReport:
    """One ``evaluate --json`` file: ``rows`` has one flat dict per method."""

    path: Path
    rows: list[dict[str, Any]]
    scale: Any = None
    lr: str = ""
    convention: str = ""


@dataclass
class Reports:
    results_md: Path | None
    evaluate: list[EvaluateReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_evaluate(data: Any, path: Path) -> EvaluateReport:
    """Validate a decoded evaluate JSON; raises ``ValueError`` naming what is wrong."""
    if not isinstance(data, dict) or not data:
        raise ValueError("not a non-empty object of method -> metrics")
    rows = []
    for method, entry in data.items():
        if not isinstance(entry, dict) or any(key not in entry for key in REQUIRED_KEYS):
            raise ValueError(f"entry '{method}' lacks one of {', '.join(REQUIRED_KEYS)}")
        row = {"method": method}
        row.update({k: v for k, v in entry.items() if isinstance(v, (int, float, str)) and k not in ("lr", "convention")})
        rows.append(row)
    first = next(iter(data.values()))
    return EvaluateReport(path, rows, first.get("scale"), str(first.get("lr", "")), str(first.get("convention", "")))


def find_reports(root: Path | None = None, folders: tuple[str, ...] = ("docs", "bench")) -> Reports:
    """``docs/results.md`` (if present) and every evaluate JSON under ``folders`` of ``root``."""
    root = Path(root or PROJECT_ROOT)
    results_md = root / "docs" / "results.md"
    found = Reports(results_md if results_md.is_file() else None)
    for folder in folders:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.json")):
            try:
                found.evaluate.append(parse_evaluate(json.loads(path.read_text()), path.relative_to(root)))
            except (ValueError, OSError) as exc:  # JSONDecodeError is a ValueError
                found.skipped.append(f"{path.relative_to(root)}: {exc}")
    return found


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
