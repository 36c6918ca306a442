"""The overview figure: an image shrunk for display, a region drawn on it, and the box a user
drags on it read back. Its axes are full-size pixel centres (x = column, y = row), so a box is
read in the pixels of the image it shows: the LR image on the Compare page, level 0 of a slide.
"""

from __future__ import annotations

import base64
import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ..imaging.io import encode_image
from ..imaging.roi import Roi

ROI_COLOR, WINDOW_COLOR = "#ffd600", "#00e5ff"


def overview_figure(small: np.ndarray, factor: float, shape: Sequence[int], roi: Roi, window: Roi | None = None) -> go.Figure:
    """``small`` (the image of ``shape`` shrunk ``factor`` times per side) with ``roi`` outlined in
    yellow and ``window`` dashed in cyan; dragging a box selects (:func:`selected_box`)."""
    uri = "data:image/png;base64," + base64.b64encode(encode_image(small, "png", 8)).decode()
    height, width = int(shape[0]), int(shape[1])
    step = max(1, math.ceil(max(height, width) / 64))
    rows, cols = np.mgrid[0:height:step, 0:width:step]
    fig = go.Figure(go.Image(source=uri, x0=(factor - 1) / 2, dx=factor, y0=(factor - 1) / 2, dy=factor, hoverinfo="skip"))
    # Invisible points on a grid: plotly reports box selections over traces with points.
    fig.add_trace(go.Scatter(x=cols.ravel(), y=rows.ravel(), mode="markers", marker=dict(opacity=0, size=4),
                             hovertemplate="row %{y}, col %{x}<extra></extra>", showlegend=False))
    fig.add_shape(type="rect", x0=roi.col - 0.5, x1=roi.col + roi.width - 0.5, y0=roi.row - 0.5,
                  y1=roi.row + roi.height - 0.5, line=dict(color=ROI_COLOR, width=2))
    if window is not None:
        fig.add_shape(type="rect", x0=window.col - 0.5, x1=window.col + window.width - 0.5, y0=window.row - 0.5,
                      y1=window.row + window.height - 0.5, line=dict(color=WINDOW_COLOR, width=2, dash="dash"))
    fig.update_xaxes(range=[-0.5, width - 0.5], showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(range=[height - 0.5, -0.5], showgrid=False, zeroline=False, scaleanchor="x", constrain="domain")
    fig.update_layout(dragmode="select", margin=dict(l=0, r=0, t=0, b=0), height=420, clickmode="none")
    return fig


def selected_box(event) -> tuple | None:
    """The last box dragged on an overview (``((x0, x1), (y0, y1))``), or None."""
    selection = (event or {}).get("selection") or {}
    boxes = selection.get("box") or []
    if boxes and "x" in boxes[-1] and "y" in boxes[-1]:
        return tuple(boxes[-1]["x"]), tuple(boxes[-1]["y"])
    points = selection.get("points") or []
    if points:
        xs, ys = [p["x"] for p in points], [p["y"] for p in points]
        return (min(xs), max(xs)), (min(ys), max(ys))
    return None
