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


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return escape(fmt.format(value))


def _pairs(items: dict[str, Any]) -> str:
    return "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in items.items())


def build_report(title: str, created: str, figures: Sequence[Figure], rows: Sequence[dict[str, Any]], columns: Sequence[Column],
                 conventions: Sequence[str], settings: dict[str, Any], models: Sequence[dict[str, Any]]) -> str:
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
    """
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>", f"<h1>{escape(title)}</h1>", f'<p class="note">Made {escape(created)} with MicroSR.</p>',
        "<h2>Region of interest in every panel</h2>",
    ]
    for figure in figures:
        uri = "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
        mark = f'<span class="swatch" style="color:{escape(figure.colour)}">&#9632;</span> ' if figure.colour else ""
        parts.append(f'<figure><img src="{uri}" alt="{escape(figure.caption)}"><figcaption>{mark}{escape(figure.caption)}</figcaption></figure>')
    parts.append("<h2>Metrics</h2>")
    if rows:
        parts.append("<table><tr>" + "".join(f"<th>{escape(c.label)}</th>" for c in columns) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f'<td class="num">{_cell(row.get(c.key), c.fmt)}</td>' for c in columns) + "</tr>")
        parts.append("</table>")
    parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in conventions) + "</ul>")
    parts.append("<h2>Methods and weights</h2>")
    for model in models:
        parts.append(f"<table>{_pairs(model)}</table>")
    parts.append(f"<h2>Settings</h2><table>{_pairs(settings)}</table></body></html>")
    return "\n".join(parts) + "\n"
