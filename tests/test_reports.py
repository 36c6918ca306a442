"""Finding evaluate reports for the Benchmarks page."""

from __future__ import annotations

import json

import pytest

from microsr_core.reports import find_reports, parse_evaluate

REPORT = {
    "bicubic": {"psnr_y": 30.1, "ssim_y": 0.88, "seconds_per_image": 0.02, "n": 5, "scale": 4, "lr": "MATLAB bicubic downscale x4", "convention": "Y"},
    "vdsr": {"psnr_y": 31.0, "ssim_y": 0.9, "seconds_per_image": 0.3, "n": 5, "scale": 4, "lr": "MATLAB bicubic downscale x4", "convention": "Y"},
}


def test_parse_evaluate_flattens_rows_and_keeps_conventions(tmp_path):
    report = parse_evaluate(REPORT, tmp_path / "r.json")
    assert [row["method"] for row in report.rows] == ["bicubic", "vdsr"]
    assert report.rows[1]["psnr_y"] == 31.0 and "lr" not in report.rows[0]
    assert report.scale == 4 and report.lr == "MATLAB bicubic downscale x4" and report.convention == "Y"


@pytest.mark.parametrize("data", [{}, [], {"bicubic": {"psnr_y": 1.0}}, {"bicubic": 3}])
def test_parse_evaluate_refuses_other_json(tmp_path, data):
    with pytest.raises(ValueError):
        parse_evaluate(data, tmp_path / "r.json")


def test_find_reports(tmp_path):
    assert find_reports(tmp_path).results_md is None and not find_reports(tmp_path).evaluate
    (tmp_path / "docs" / "x4").mkdir(parents=True)
    (tmp_path / "docs" / "results.md").write_text("# Results\n")
    (tmp_path / "docs" / "x4" / "eval.json").write_text(json.dumps(REPORT))
    (tmp_path / "docs" / "broken.json").write_text("{not json")
    found = find_reports(tmp_path)
    assert found.results_md == tmp_path / "docs" / "results.md"
    assert [str(r.path) for r in found.evaluate] == ["docs/x4/eval.json"]
    assert len(found.skipped) == 1 and "broken.json" in found.skipped[0]
