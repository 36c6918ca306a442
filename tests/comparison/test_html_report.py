"""The one-click HTML report (microsr_core.comparison.html_report): self-contained, complete, escaped."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
from PIL import Image

from microsr_core.comparison.html_report import Column, Figure, build_report
from microsr_core.imaging.io import encode_image


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_data(self, data):
        self.text.append(data)


def test_report_embeds_pngs_and_holds_metrics_conventions_models_and_settings():
    panel = np.zeros((24, 32, 3), np.float32)
    panel[:, :16] = 1.0
    html = build_report(
        "MicroSR comparison: sample <x2>", "2026-12-01T23:00:00+0000",
        [Figure(encode_image(panel, "png", 8), "VDSR · rows 0-24, cols 0-32 (SR px) · bar 0.5 µm", "#0072B2"),
         Figure(encode_image(panel[:12, :16], "png", 8), "LR input · rows 0-12, cols 0-16 (LR px)")],
        [{"title": "Bicubic", "psnr_y": 41.4523, "delta_e_mean": float("nan")}, {"title": "VDSR", "psnr_y": 41.7481, "delta_e_mean": 1.234}],
        [Column("title", "method"), Column("psnr_y", "PSNR-Y (dB)", "{:.3f}"), Column("delta_e_mean", "ΔE00 mean", "{:.2f}")],
        ["PSNR/SSIM: Y (BT.601 studio swing), border 2 px shaved", "ΔE00: CIEDE2000 on Lab"],
        {"scale": 2, "precision": "fp32", "region (LR px)": "rows 0-12, cols 0-16"},
        [{"method": "vdsr", "title": "VDSR", "weights sha256": "b5c4ef6e4d64" + "0" * 52}],
    )
    page = Collector()
    page.feed(html)
    text = " ".join(page.text)
    sources = [value for tag, name, value in page.attributes if name in ("src", "href")]
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)  # nothing to fetch
    assert not re.search(r"<(script|link|iframe)", html)
    sizes = [Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).size for s in sources]
    assert sizes == [(32, 24), (16, 12)]
    for expected in ("41.452", "41.748", "1.23", "—", "PSNR-Y (dB)", "border 2 px shaved", "CIEDE2000 on Lab", "fp32",
                     "b5c4ef6e4d64" + "0" * 52, "2026-12-01T23:00:00+0000", "bar 0.5 µm", "rows 0-12, cols 0-16"):
        assert expected in text, expected
    assert "sample &lt;x2&gt;" in html and "<x2>" not in html  # text is escaped
    assert 'style="color:#0072B2"' in html
