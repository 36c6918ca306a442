"""Finding evaluate reports for the Benchmarks page."""

from __future__ import annotations

import json
import math

import pytest

from microsr_core.models.catalog import method_catalog, served_entries
from microsr_core.comparison.reports import find_reports, latest_speed_run, leaderboard, mark_served, parse_evaluate

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


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data))


def entry(psnr, ssim, n=25, scale=2, seconds=0.5):
    return {"psnr_y": psnr, "ssim_y": ssim, "seconds_per_image": seconds, "n": n, "scale": scale,
            "lr": f"MATLAB bicubic downscale x{scale}", "convention": f"Y, border {scale}"}


def test_leaderboard_is_method_by_set_by_scale_with_gains_on_the_same_images(tmp_path):
    # Values of docs/eval/vdsr_long_bccd_val_x2.json and vdsr_single_x2_bccd_val_x2.json (rounded).
    write(tmp_path / "docs" / "eval", "vdsr_long_bccd_val_x2.json", {"bicubic": entry(52.0737, 0.99474), "vdsr": entry(52.6754, 0.99540)})
    write(tmp_path / "docs" / "eval", "vdsr_single_x2_bccd_val_x2.json", {"vdsr": entry(53.0125, 0.99580)})
    write(tmp_path / "docs" / "eval", "vdsr_single_x2_wbc2_all_x2.json", {"vdsr": entry(44.6229, 0.98, n=80)})  # no bicubic on these images
    write(tmp_path / "docs" / "eval", "odd.json", {"bicubic": entry(30.0, 0.8, scale=4), "vdsr": entry(30.5, 0.82, scale=4, seconds=3.0)})
    rows = leaderboard(find_reports(tmp_path).evaluate)
    table = {(r["test_set"], r["scale"], r["method"]): r for r in rows}
    assert list(table) == [("bccd_val", 2, "bicubic"), ("bccd_val", 2, "vdsr [single_x2]"), ("bccd_val", 2, "vdsr [long]"),
                           ("odd", 4, "bicubic"), ("odd", 4, "vdsr [odd]"), ("wbc2_all", 2, "vdsr [single_x2]")]
    assert table[("bccd_val", 2, "vdsr [long]")]["gain_db"] == pytest.approx(0.6017)
    assert table[("bccd_val", 2, "vdsr [single_x2]")]["gain_db"] == pytest.approx(0.9388)  # bicubic of the other file
    assert table[("bccd_val", 2, "vdsr [single_x2]")]["gain_ssim"] == pytest.approx(0.00106)
    assert table[("bccd_val", 2, "bicubic")]["gain_db"] == 0.0
    assert math.isnan(table[("wbc2_all", 2, "vdsr [single_x2]")]["gain_db"])
    odd = table[("odd", 4, "vdsr [odd]")]
    assert odd["gain_db"] == pytest.approx(0.5) and odd["seconds_per_image"] == 3.0 and odd["precision"] == "fp32"
    assert odd["report"] == "docs/eval/odd.json" and odd["lr"] == "MATLAB bicubic downscale x4" and odd["convention"] == "Y, border 4"
    assert odd["weights_entry"] == "—"  # reports from before evaluate recorded the weights


def test_leaderboard_names_the_weights_each_row_measured(tmp_path):
    vdsr = {**entry(53.0125, 0.9958), "weights_entry": "vdsr_x2", "weights_sha256": "e097a20a" * 8, "lr_kind": "bicubic"}
    bicubic = {**entry(52.0737, 0.99474), "weights_entry": None, "weights_sha256": None, "lr_kind": "bicubic"}
    write(tmp_path / "docs" / "eval", "shipped_bccd_test_x2.json", {"bicubic": bicubic, "vdsr": vdsr})
    report = find_reports(tmp_path).evaluate[0]
    assert report.rows[1]["weights_sha256"] == "e097a20a" * 8 and report.rows[1]["lr_kind"] == "bicubic"
    rows = {row["method"]: row for row in leaderboard([report])}
    assert rows["vdsr [shipped]"]["weights_entry"] == "vdsr_x2" and rows["bicubic"]["weights_entry"] == "—"


CAPTURE = "microscope capture: NA 0.27 objective, noise, JPEG q 80"


def test_bicubic_on_a_capture_and_on_bicubic_lr_of_the_same_images_are_two_baselines(tmp_path):
    real = {"bicubic": {**entry(40.0, 0.95), "lr": CAPTURE}, "vdsr": {**entry(41.5, 0.96), "lr": CAPTURE, "weights_entry": "vdsr_x2_real"}}
    write(tmp_path / "docs" / "eval", "real_bccd_test_x2.json", real)
    write(tmp_path / "docs" / "eval", "shipped_bccd_test_x2.json", {"bicubic": entry(52.0, 0.99)})
    write(tmp_path / "docs" / "eval", "late_bccd_test_x2.json", {"vdsr": {**entry(41.0, 0.955), "lr": CAPTURE}})  # no bicubic of its own
    rows = leaderboard(find_reports(tmp_path).evaluate)
    bicubic = sorted((r["lr_family"], r["psnr_y"]) for r in rows if r["method"] == "bicubic")
    assert bicubic == [("bicubic", 52.0), ("real", 40.0)]
    gains = {r["method"]: r["gain_db"] for r in rows if r["method"] != "bicubic"}
    assert gains == {"vdsr [real]": pytest.approx(1.5), "vdsr [late]": pytest.approx(1.0)}  # against the capture's bicubic


def test_rows_say_whether_compare_runs_their_weights_today(tmp_path):
    served = served_entries(method_catalog())  # the shipped manifest: vdsr x2 is vdsr_x2 on bicubic LR, vdsr_x2_real on captures
    assert served[("vdsr", 2, "bicubic")] == "vdsr_x2" and served[("vdsr", 2, "real")] == "vdsr_x2_real"
    write(tmp_path / "docs" / "eval", "mixed_bccd_test_x2.json", {
        "bicubic": entry(52.0, 0.99), "vdsr": {**entry(53.0, 0.995), "weights_entry": "vdsr_x2"}})
    write(tmp_path / "docs" / "eval", "multi_bccd_test_x2.json", {"vdsr": {**entry(52.6, 0.994), "weights_entry": "vdsr"}})
    write(tmp_path / "docs" / "eval", "old_bccd_test_x2.json", {"vdsr": entry(52.7, 0.994)})  # before entries were recorded
    write(tmp_path / "docs" / "eval", "bicubicweights_bccd_test_x2.json", {  # bicubic-LR weights on a capture
        "bicubic": {**entry(40.0, 0.95), "lr": CAPTURE}, "vdsr": {**entry(40.5, 0.95), "lr": CAPTURE, "weights_entry": "vdsr_x2"}})
    marked = {(r["method"], r["lr_family"]): r["in_compare"] for r in mark_served(leaderboard(find_reports(tmp_path).evaluate), served)}
    assert marked == {("bicubic", "bicubic"): True, ("bicubic", "real"): True, ("vdsr [mixed]", "bicubic"): True,
                      ("vdsr [multi]", "bicubic"): False, ("vdsr [old]", "bicubic"): False, ("vdsr [bicubicweights]", "real"): False}


def test_latest_speed_run_reads_the_newest_run_section_of_benchmarks_md(tmp_path):
    """The newest section bench/run.py wrote; a written-up comparison above it is passed over."""
    assert latest_speed_run(tmp_path) is None
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\nnewest first\n\n## CPU backends compared, 2026-11-24\n\n### Run 1\n\n| method | backend |\n| --- | --- |\n| vdsr | pytorch |\n\n"
        "## CPU run, 2026-11-23\n\n- machine: 2 cores\n- command: `python bench/run.py --threads 1`\n\n"
        "| method | scale | median s |\n| --- | --- | --- |\n| bicubic | x2 | 0.142 |\n| vdsr | x2 | 28.936 |\n\n"
        "## CPU run, 2026-11-22\n\n| method | scale | median s |\n| --- | --- | --- |\n| bicubic | x2 | 0.031 |\n")
    run = latest_speed_run(tmp_path)
    assert run.title == "CPU run, 2026-11-23" and run.machine == "2 cores" and run.command == "python bench/run.py --threads 1"
    assert run.rows == [{"method": "bicubic", "scale": "x2", "median s": "0.142"}, {"method": "vdsr", "scale": "x2", "median s": "28.936"}]
