"""bench/run.py --json: a tiny real run (32×32 LR, one repeat) and the report it writes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from microsr_core.models.runtime import missing_packages
from microsr_core.models.weights import read_manifest

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["pytorch"] + ([] if missing_packages() else ["openvino"])
CASE_KEYS = {"method", "scale", "lr_size", "backend", "precision", "median_s", "speedup_vs_reference",
             "psnr_delta_vs_fp32", "peak_rss_mb", "roofline_fraction"}


@pytest.mark.skipif("vdsr" not in read_manifest(), reason="no shipped vdsr weights (the reference is VDSR)")
def test_json_report_has_the_probe_the_reference_and_every_case(tmp_path):
    out, report_path = tmp_path / "bench.md", tmp_path / "bench.json"
    command = [sys.executable, "bench/run.py", "--device", "cpu", "--threads", "1", "--precision", "bf16", "--backends", ",".join(BACKENDS),
               "--sizes", "32x32", "--scales", "2", "--methods", "bicubic,vdsr", "--repeats", "1", "--huge", "0",
               "--one-image", "32x32x2", "--out", str(out), "--json", str(report_path)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=300)
    report = json.loads(report_path.read_text())

    assert report["machine"]["device"] == "cpu" and report["machine"]["threads"] == 1
    assert report["probe"]["fp32_gflops"] > 0 and report["probe"]["bf16_gflops"] > 0
    assert report["probe"]["auto_precision"] in ("fp32", "bf16")
    cases = {(case["method"], case["backend"]): case for case in report["cases"]}
    assert sorted(cases) == sorted([("bicubic", "numpy"), ("vdsr-reference", "pytorch-reference")] + [("vdsr", b) for b in BACKENDS])
    assert all(CASE_KEYS <= set(case) for case in cases.values())

    reference, bicubic = cases["vdsr-reference", "pytorch-reference"], cases["bicubic", "numpy"]
    assert (reference["precision"], reference["speedup_vs_reference"], reference["psnr_delta_vs_fp32"]) == ("fp32", 1.0, 0.0)
    for backend in BACKENDS:
        vdsr = cases["vdsr", backend]
        assert vdsr["precision"] == "bf16" and vdsr["lr_size"] == "32x32"
        assert vdsr["speedup_vs_reference"] == pytest.approx(reference["median_s"] / vdsr["median_s"])
        assert abs(vdsr["psnr_delta_vs_fp32"]) <= 0.02 and vdsr["roofline_fraction"] > 0 and vdsr["peak_rss_mb"] > 0
    # Bicubic has no network: float32, no convolutions to compare with the probe, no VDSR reference.
    assert (bicubic["precision"], bicubic["roofline_fraction"], bicubic["speedup_vs_reference"]) == ("fp32", None, None)
    # The one-image total reuses the grid's cases of that size and scale, VDSR's fastest backend.
    fastest = min(cases["vdsr", backend]["median_s"] for backend in BACKENDS)
    assert report["one_image"]["total_s"] == pytest.approx(fastest + bicubic["median_s"])

    markdown = out.read_text()
    assert "| method | backend | precision |" in markdown and "| vdsr | pytorch | bf16 | x2 | 32x32 |" in markdown
