"""The Benchmarks, Models and Train pages render from whatever the checkout holds, without errors."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from microsr_core import reports
from microsr_core.registry import method_names
from microsr_core.weights import read_manifest

APP = Path(__file__).resolve().parents[2] / "app.py"


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_models_page_lists_every_registered_method_and_card(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path))  # no promoted models
    at = open_page("pages/models.py")
    listed = at.dataframe[0].value
    assert list(listed["method"]) == method_names()
    cards = read_manifest()
    for name in cards:
        assert any(e.label.startswith(f"{name}:") for e in at.expander), name
    if not cards:
        assert any("None in" in i.value for i in at.info)


def test_benchmarks_page_shows_reports_or_says_there_are_none(tmp_path, monkeypatch):
    at = open_page("pages/benchmarks.py")
    found = reports.find_reports()
    if not found.evaluate and found.results_md is None:
        assert any("No benchmark results yet" in i.value for i in at.info)
    # With an evaluate report present, its table is shown with its conventions.
    (tmp_path / "docs").mkdir()
    report = {"bicubic": {"psnr_y": 30.5, "ssim_y": 0.9, "seconds_per_image": 0.01, "n": 3, "scale": 4,
                          "lr": "MATLAB bicubic downscale x4", "convention": "Y, border 4"}}
    (tmp_path / "docs" / "eval_x4.json").write_text(json.dumps(report))
    (tmp_path / "docs" / "other.json").write_text("{}")
    monkeypatch.setattr(reports, "PROJECT_ROOT", tmp_path)
    at = open_page("pages/benchmarks.py")
    assert at.dataframe[0].value.loc["bicubic", "psnr_y"] == 30.5
    assert any("MATLAB bicubic downscale x4" in c.value for c in at.caption)
    assert any("not evaluate reports" in e.label for e in at.expander)


def test_train_page_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path))  # a private job store
    at = open_page("pages/train.py")
    assert at.title[0].value == "Train"
