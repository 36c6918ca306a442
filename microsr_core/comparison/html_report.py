"""One-click comparison report: a single self-contained HTML file.

Images are embedded as PNG ``data:`` URIs and the style is inline, so the file opens offline in
any browser and can be mailed or archived as it is. Every number is shown with the convention it
was measured under, and every learned method with its weights' checksum.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from html import escape
from typing import Any, Sequence

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
