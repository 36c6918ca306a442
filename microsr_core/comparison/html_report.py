"""One-click comparison report: a single self-contained HTML file.

Images are embedded as PNG ``data:`` URIs and the style is inline, so the file opens offline in
any browser and can be mailed or archived as it is. Every number is shown with the convention it
was measured under, and every learned method with its weights' checksum. :func:`build_report`
renders the parts; :func:`report_html` makes the Compare page's report of an
:class:`~microsr_core.comparison.outcome.Outcome`.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from html import escape
from typing import Any, Sequence

from . import display
from .outcome import CLASS_DIGITS, GAIN_CHARTS, GAINS_CAPTION, MAPS_CAPTION, ClassTable, Outcome, settings_record
from ..imaging.io import encode_image
from ..imaging.roi import Roi
from ..models.papers import cite
from ..models.registry import method_class

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; } figcaption { font-size: 0.85em; max-width: 520px; }
img { image-rendering: pixelated; border: 1px solid #ccc; } .swatch { font-size: 1.2em; }
.note { font-size: 0.9em; color: #444; }
.axis { position: relative; display: inline-block; width: 160px; height: 12px; background: #f2f2f2; vertical-align: middle; margin-right: 6px; }
.axis::after { content: ""; position: absolute; left: 50%; top: -2px; bottom: -2px; border-left: 1px solid #777; }
.axis span { position: absolute; top: 0; height: 12px; }
"""


@dataclass(frozen=True)
class Figure:
    """One embedded image: PNG bytes, a caption, and the colour of its method (``None``: none)."""

    png: bytes
    caption: str
    colour: str | None = None


@dataclass(frozen=True)
class Column:
    """A metrics-table column: the row key, its heading and its format (``"{:.3f}"``)."""

    key: str
    label: str
    fmt: str = "{}"


@dataclass(frozen=True)
class Table:
    """A table section: its heading, columns, rows and a caption (the convention of its numbers)."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    caption: str = ""


@dataclass(frozen=True)
class Bars:
    """A bar chart drawn as a table (no script): one row per method, one bar per series, each bar
    from a zero line in the middle, scaled to the largest |value| or ``min_span`` if larger (so
    that a change far below what matters stays small)."""

    title: str
    series: Sequence[str]
    rows: Sequence[tuple[str, str | None, Sequence[float]]]  # (method, colour, one value per series)
    fmt: str = "{:+.2f}"
    min_span: float = 0.0
    caption: str = ""


@dataclass(frozen=True)
class Figures:
    """A section of images with captions (maps with their colour bar, say)."""

    title: str
    figures: Sequence[Figure]
    caption: str = ""


Section = Table | Bars | Figures


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return escape(fmt.format(value))


def _pairs(items: dict[str, Any]) -> str:
    return "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in items.items())


def _swatch(colour: str | None) -> str:
    return f'<span class="swatch" style="color:{escape(colour)}">&#9632;</span> ' if colour else ""


def _figure(figure: Figure) -> str:
    uri = "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
    return f'<figure><img src="{uri}" alt="{escape(figure.caption)}"><figcaption>{_swatch(figure.colour)}{escape(figure.caption)}</figcaption></figure>'


def _table(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> str:
    head = "<table><tr>" + "".join(f"<th>{escape(c.label)}</th>" for c in columns) + "</tr>"
    body = ["<tr>" + "".join(f'<td class="num">{_cell(row.get(c.key), c.fmt)}</td>' for c in columns) + "</tr>" for row in rows]
    return "\n".join([head, *body, "</table>"])


def _bar(value: float, span: float, colour: str | None, fmt: str) -> str:
    if not math.isfinite(value):
        return '<td class="num">—</td>'
    width = 50 * min(abs(value) / span, 1.0) if span > 0 else 0.0
    left = 50 if value >= 0 else 50 - width
    return (f'<td class="num"><span class="axis"><span style="left:{left:.1f}%;width:{width:.1f}%;'
            f'background:{escape(colour or "#555")}"></span></span>{escape(fmt.format(value))}</td>')


def _section(section: Section) -> str:
    parts = [f"<h2>{escape(section.title)}</h2>"]
    if isinstance(section, Table):
        parts.append(_table(section.columns, section.rows))
    elif isinstance(section, Bars):
        values = [abs(v) for _, _, row in section.rows for v in row if math.isfinite(v)]
        span = max([section.min_span, *values])
        parts.append("<table><tr><th>method</th>" + "".join(f"<th>{escape(name)}</th>" for name in section.series) + "</tr>")
        for method, colour, row in section.rows:
            parts.append(f"<tr><th>{_swatch(colour)}{escape(method)}</th>" + "".join(_bar(v, span, colour, section.fmt) for v in row) + "</tr>")
        parts.append("</table>")
    else:
        parts += [_figure(figure) for figure in section.figures]
    if section.caption:
        parts.append(f'<p class="note">{escape(section.caption)}</p>')
    return "\n".join(parts)


def build_report(title: str, created: str, figures: Sequence[Figure], rows: Sequence[dict[str, Any]], columns: Sequence[Column],
                 conventions: Sequence[str], settings: dict[str, Any], models: Sequence[dict[str, Any]],
                 sections: Sequence[Section] = ()) -> str:
    """The report as HTML text.

    Parameters
    ----------
    title, created : str
        Heading, and when the comparison was made (shown beside the title).
    figures : sequence of Figure
        Images in display order (the zoom panels the user looked at, the LR input).
    rows, columns : the metrics table, one row per method (``rows[i][column.key]``).
    conventions : sequence of str
        How every number was measured, one line each.
    settings : dict
        What is needed to redo the comparison (input, scale, region, device, precision, ...).
    models : sequence of dict
        One per method: its model card fields (title, weights, sha256, ...), shown as a table.
    sections : sequence of Table, Bars or Figures
        Shown after the metrics (gain charts, per-class table, maps), in order.
    """
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>", f"<h1>{escape(title)}</h1>", f'<p class="note">Made {escape(created)} with MicroSR.</p>',
        "<h2>Region of interest in every panel</h2>",
    ]
    parts += [_figure(figure) for figure in figures]
    parts.append("<h2>Metrics</h2>")
    if rows:
        parts.append(_table(columns, rows))
    parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in conventions) + "</ul>")
    parts += [_section(section) for section in sections]
    parts.append("<h2>Methods and weights</h2>")
    for model in models:
        parts.append(f"<table>{_pairs(model)}</table>")
    parts.append(f"<h2>Settings</h2><table>{_pairs(settings)}</table></body></html>")
    return "\n".join(parts) + "\n"


#: The metrics table of the report: row key, heading, format.
REPORT_COLUMNS = [
    Column("title", "method"), Column("weights", "weights"), Column("lr_kind", "LR kind"), Column("seconds", "time (s)", "{:.3f}"), Column("device", "device"),
    Column("backend", "backend"), Column("precision", "precision"),
    Column("psnr_y", "PSNR-Y (dB)", "{:.3f}"), Column("ssim_y", "SSIM-Y", "{:.4f}"),
    Column("delta_e_mean", "ΔE00 mean", "{:.2f}"), Column("delta_e_p95", "ΔE00 95th pct", "{:.2f}"),
    Column("roi_psnr_y", "PSNR-Y region (dB)", "{:.3f}"), Column("roi_ssim_y", "SSIM-Y region", "{:.4f}"),
    Column("roi_delta_e_mean", "ΔE00 mean region", "{:.2f}"), Column("roi_delta_e_p95", "ΔE00 95th pct region", "{:.2f}"),
    Column("lr_consistency_psnr_y", "LR-consistency PSNR-Y (dB)", "{:.2f}"),
    Column("verdict", "verdict without HR"), Column("verdict_reason", "because"),
    Column("nucleus_dice", "nucleus Dice vs HR", "{:.3f}"), Column("cell_count_diff", "cells found − HR's", "{:+.0f}"),
    Column("nucleus_area_error_pct", "nucleus area error (%)", "{:.1f}"), Column("nc_ratio_error", "N:C ratio error", "{:.3f}"),
]
REPORT_MAP_SIDE = 256  # the report holds every map of every method


def report_html(outcome: Outcome) -> str:
    """The one-click report (:func:`build_report`) of what the Compare page shows: the zoom
    panels, the metrics, the gains, the per-class table and the maps; each method's weights are
    those that computed its result."""
    inputs, settings, reference = outcome.inputs, outcome.settings, outcome.reference
    record = settings_record(outcome)
    models = []
    for method, result in outcome.results.items():
        served = result.served
        models.append({"method": method, "title": settings.titles[method], "paper": cite(method_class(method).paper),
                       "LR kind": served.lr_kind, "weights": served.ref or "none: no learned weights",
                       "weights file": served.file or "—", "summary": served.card.get("summary", ""),
                       "training steps": served.card.get("training", {}).get("steps", ""),
                       "weights sha256": served.sha256 or "—"})
    conventions = [f"PSNR/SSIM: {record['metrics_convention']}; region columns: {record['roi_metrics']}",
                   f"ΔE00: {record['stain_fidelity']}", f"LR consistency: {record['lr_consistency']}",
                   f"LR input: {inputs.origin}"] + ([f"HR reference: {record['reference']['how']}"] if reference else [])
    figures = [Figure(encode_image(view.image, "png", 8), view.caption, view.colour) for view in outcome.panels.values()]
    figures.append(Figure(encode_image(inputs.lr, "png", 8), f"LR input, whole image: {inputs.name}"))
    maps = [Figure(encode_image(display.shrink_for_display(view.image, REPORT_MAP_SIDE)[0], "png", 8), view.caption, view.colour)
            for view in outcome.shown_maps()]
    sections = [*gain_bars(outcome), *([class_section(outcome.classes)] if outcome.classes else []),
                *([Figures("Maps", maps, MAPS_CAPTION)] if maps else [])]
    return build_report(f"MicroSR comparison: {inputs.name}, x{settings.scale}", record["created"], figures, outcome.rows,
                        REPORT_COLUMNS, conventions, readable_settings(record, settings.titles), models, sections)


def gain_bars(outcome: Outcome) -> list[Bars]:
    """The gains chart for the report: one bar table per metric (whole image, region)."""
    gains, settings = outcome.gains, outcome.settings
    return [Bars(chart.title.replace("<br>", " "), ["whole image", "region"],
                 [(settings.titles[m], settings.colours[m], [g[chart.metric], g["roi_" + chart.metric]]) for m, g in gains.items()],
                 f"{{:+.{chart.digits}f}}", chart.min_span, GAINS_CAPTION if chart is GAIN_CHARTS[-1] else "")
            for chart in GAIN_CHARTS] if gains else []


def class_section(classes: ClassTable) -> Table:
    """The per-class table for the report."""
    columns = [Column("method", "method")] + [Column(f"{name} {metric}", f"{name} {metric}", f"{{:.{digits}f}}")
                                              for name in classes.names for metric, digits in CLASS_DIGITS.items()]
    return Table("Per class of the parsing map", columns, classes.rows, classes.caption)


def readable_settings(record: dict, titles: dict[str, str]) -> dict[str, str]:
    """The settings record (the ZIP's settings.json) as the report's rows, in words, with each
    method by its title; the weights of each method are in the report's methods table."""
    height, width = record["lr_size"]
    reference = record["reference"]
    return {
        "input": record["input"], "LR size": f"{width} x {height} px (width x height), {record['bit_depth']}-bit",
        "LR origin": record["lr_origin"], "LR kind": record["lr_kind"], "scale": f"x{record['scale']}",
        "methods": ", ".join(titles[m] for m in record["methods"]),
        "device": f"{record['device']} (chosen: {record['device_choice']})",
        "tile": "automatic (from each network's memory bound and reach)" if record["tile"] is None
                else ("whole image at once" if record["tile"] == 0 else f"{record['tile']} LR px"),
        "precision": record["precision"], "region of interest": Roi(**record["roi_lr_px"]).describe(),
        "HR reference": "none" if reference is None else "; ".join([f"{reference['name']}: {reference['how']}", *reference["notes"]]),
    }
