"""Finding and reading the benchmark reports shown on the app's Benchmarks page.

Three sources, all optional: ``docs/results.md`` (the written-up results), the JSON files
that ``python -m microsr_core evaluate --json`` writes (see :mod:`microsr_core.comparison.evaluate` for
their schema), anywhere under ``docs/`` or ``bench/``, and the speed runs of ``bench/run.py``
in ``docs/benchmarks.md``. Files that are not evaluate reports are skipped and listed, never
guessed at.

:func:`leaderboard` puts every report into one table, method × test set × scale, each method
with its gain over bicubic on the same images. The test set comes from the file name, which
docs/results.md fixes as ``<method>_<model>_<set>_xS.json`` with ``<set>`` = ``<data>_<split>``
(for example ``vdsr_long_bccd_test_x2.json``); other names give a test set named after the file.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compare import BASELINE, INFERENCE_PRECISION
from ..paths import PROJECT_ROOT
from ..models.serving import DEFAULT_KIND, LR_KINDS

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


#: ``<run>_<set>_x<scale>`` with ``<set>`` = ``<data>_<split>`` (docs/results.md's naming).
REPORT_NAME = re.compile(r"^(?P<run>.+)_(?P<set>[^_]+_(?:train|val|test|all))_x(?P<scale>\d+)$")


def _label(method: str, run: str) -> str:
    """``vdsr`` from run ``vdsr_long`` is ``vdsr [long]``; bicubic is always ``bicubic``."""
    if method == BASELINE or run == method:
        return method
    return f"{method} [{run[len(method) + 1:] if run.startswith(method + '_') else run}]"


def leaderboard(reports: list[EvaluateReport]) -> list[dict[str, Any]]:
    """One row per method, test set and scale over all ``reports``.

    Each row has ``method`` (with the model it came from, ``vdsr [long]``), ``method_name`` (the
    registry's, ``vdsr``), ``test_set``,
    ``scale``, ``weights_entry`` (the weights that computed it; ``—`` in reports that predate
    the field or for a method without weights), ``psnr_y``, ``ssim_y``, ``gain_db`` and ``gain_ssim`` (minus bicubic on the same
    images: the bicubic of the same file, else of another file with the same test set, scale and
    image count and LR; NaN where there is none), ``seconds_per_image``, ``n``, ``precision`` (recorded,
    else :data:`~microsr_core.comparison.compare.INFERENCE_PRECISION`), ``report`` (the file), ``lr`` and
    ``lr_family`` (:func:`lr_family`) and ``convention``. Bicubic appears once per test set, scale, image count and LR.
    """
    entries = []
    for report in reports:
        match = REPORT_NAME.match(report.path.stem)
        run, test_set = (match["run"], match["set"]) if match else (report.path.stem, report.path.stem)
        for row in report.rows:
            entries.append((report, run, test_set, int(row.get("scale", report.scale)), row))
    # The same images at the same scale may have been degraded differently (bicubic, a microscope
    # capture): a bicubic row stands for its LR only.
    baselines = {(test_set, scale, row["n"], report.lr): row for report, _, test_set, scale, row in entries if row["method"] == BASELINE}
    table, seen = [], set()
    for report, run, test_set, scale, row in entries:
        key = (test_set, scale, row["n"], report.lr)
        if row["method"] == BASELINE:
            if key in seen:
                continue
            seen.add(key)
        base = next((r for r in report.rows if r["method"] == BASELINE), None) or baselines.get(key)
        table.append({
            "method": _label(row["method"], run), "method_name": row["method"], "test_set": test_set, "scale": scale,
            "weights_entry": row.get("weights_entry") or "—",
            "psnr_y": row["psnr_y"], "ssim_y": row["ssim_y"],
            "gain_db": row["psnr_y"] - base["psnr_y"] if base else math.nan,
            "gain_ssim": row["ssim_y"] - base["ssim_y"] if base else math.nan,
            "seconds_per_image": row["seconds_per_image"], "n": row["n"],
            "precision": row.get("precision", INFERENCE_PRECISION), "report": str(report.path),
            "lr": report.lr, "lr_family": lr_family(report.lr), "convention": report.convention,
        })
    return sorted(table, key=lambda r: (r["test_set"], r["scale"], r["method"] != BASELINE, -r["psnr_y"]))


def lr_family(lr: str) -> str:
    """The kind of LR a report's ``lr`` text describes, in a word for a chart: ``bicubic``,
    ``real`` (a simulated microscope capture, the app's ``real`` LR kind) or ``blur`` (x1)."""
    if lr.startswith("microscope capture"):
        return "real"
    if "bicubic" in lr:
        return "bicubic"
    return "blur" if "blur" in lr else (lr or "not recorded")


def mark_served(rows: list[dict[str, Any]], served: dict[tuple[str, int, str], str | None]) -> list[dict[str, Any]]:
    """``rows`` of :func:`leaderboard`, each with ``in_compare``: whether the Compare page runs
    those weights today for that method and scale on LR of that kind (``served``: (method, scale,
    LR kind) -> manifest entry, :func:`microsr_core.models.catalog.served_entries`). Bicubic is always
    served; a row from a report that predates the recorded weights entry is not known to be."""
    def known(row: dict[str, Any]) -> bool:
        if row["method_name"] == BASELINE:
            return True
        kind = row["lr_family"] if row["lr_family"] in LR_KINDS else DEFAULT_KIND
        entry = served.get((row["method_name"], row["scale"], kind))
        return entry is not None and entry == row["weights_entry"]

    return [{**row, "in_compare": known(row)} for row in rows]


#: A section bench/run.py writes: "CPU run, 2026-12-02", "CUDA run, ...", "CUDA:1 run, ...".
RUN_HEADING = re.compile(r"\S+ run, \d{4}-\d{2}-\d{2}")


@dataclass
class SpeedRun:
    """The newest run of ``bench/run.py`` written up in docs/benchmarks.md."""

    title: str
    machine: str
    command: str
    rows: list[dict[str, str]]


def latest_speed_run(root: Path | None = None) -> SpeedRun | None:
    """The first run section of ``docs/benchmarks.md`` under ``root`` (newest first; headed
    ``## CPU run, <date>`` as bench/run.py writes it, so a written-up comparison of a few cases
    is passed over) with its machine, command and table; ``None`` when the file is missing or
    has no such section with a table."""
    path = Path(root or PROJECT_ROOT) / "docs" / "benchmarks.md"
    if not path.is_file():
        return None
    section = [part for part in path.read_text().split("\n## ")[1:] if RUN_HEADING.match(part)][:1]
    if not section:
        return None
    lines = section[0].splitlines()
    field = {key: line.split(":", 1)[1].strip().strip("`") for line in lines
             for key in ("machine", "command") if line.startswith(f"- {key}:")}
    table = [line for line in lines if line.startswith("|")]
    if len(table) < 3:
        return None
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    return SpeedRun(lines[0].strip(), field.get("machine", ""), field.get("command", ""),
                    [dict(zip(cells[0], row)) for row in cells[2:]])
