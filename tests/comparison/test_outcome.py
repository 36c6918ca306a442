"""The Outcome of a comparison (microsr_core.comparison.outcome), and the ZIP and report built from it,
on a real field: bicubic and the geometry prior (which brings a parsing map) at x2 against the HR
the LR was made from."""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from microsr_core.comparison import assess
from microsr_core.comparison.compare import class_metrics, lr_consistency, match_reference
from microsr_core.comparison.downloads import archive, archive_images
from microsr_core.comparison.html_report import readable_settings, report_html
from microsr_core.comparison.inputs import Inputs, Settings, result_key
from microsr_core.comparison.outcome import MAP_SIDE, Zoomed, compute_outcome, result_labels, settings_record
from microsr_core.imaging.degrade import Degradation, bicubic_downscale
from microsr_core.imaging.io import load_image, to_uint
from microsr_core.imaging.metrics import ssim_map_y
from microsr_core.imaging.parsing import CLASSES
from microsr_core.imaging.roi import Roi
from microsr_core.models.inference import upscale

METHODS = ("bicubic", "prior")
TITLES = {"bicubic": "Bicubic", "prior": "Geometry prior"}
COLOURS = {"bicubic": "#8c8c8c", "prior": "#0072B2"}
ROI = Roi(8, 8, 24, 24)


@pytest.fixture(scope="module")
def field(sample):
    """(inputs, results, settings): a 96-px HR field, its 48-px bicubic LR, both methods' x2 results."""
    hr = np.ascontiguousarray(sample[100:196, 200:296])
    lr = bicubic_downscale(hr, 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_torch_thread (function-scoped): the tiny field is faster so, and repeats
    try:
        results = {method: upscale(lr, method, 2) for method in METHODS}
    finally:
        torch.set_num_threads(threads)
    inputs = Inputs(lr, "field", 8, "field-key", Degradation("bicubic", 2), "test field", "bicubic", hr, "hr.png", "hr-key")
    settings = Settings(2, "bicubic", list(METHODS), TITLES, {m: r.served for m, r in results.items()}, {m: () for m in METHODS},
                        COLOURS, "cpu", "cpu", None, False)
    return inputs, results, settings


def _luma_psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """The oracle: scikit-image's PSNR on BT.601 studio-swing Y, border shaved."""
    def luma(image):
        return (image.astype(np.float64) @ [65.481, 128.553, 24.966] + 16.0)[border:-border or None, border:-border or None]
    return peak_signal_noise_ratio(luma(hr), luma(sr), data_range=255.0)


def test_the_rows_measure_every_result_against_the_reference(field):
    inputs, results, settings = field
    outcome = compute_outcome(inputs, results, match_reference(inputs.lr, inputs.reference, 2), ROI, settings)
    assert [row["method"] for row in outcome.rows] == list(METHODS)
    assert [row["title"] for row in outcome.rows] == ["Bicubic", "Geometry prior"]
    for row in outcome.rows:
        sr = results[row["method"]].image
        assert row["psnr_y"] == pytest.approx(_luma_psnr(sr, inputs.reference, 2), abs=1e-3)
        region = ROI.scaled(2).slices()
        assert row["roi_psnr_y"] == pytest.approx(_luma_psnr(sr[region], inputs.reference[region], 0), abs=1e-3)
        assert row["lr_consistency_psnr_y"] == lr_consistency(sr, inputs.lr, inputs.degradation).psnr_y
        assert row["weights_sha256"] == results[row["method"]].served.sha256 and row["lr_kind"] == "bicubic"
        assert 0 <= row["nucleus_dice"] <= 1 and "verdict" not in row
    bicubic, prior = outcome.rows
    assert 25 < bicubic["psnr_y"] < 45 and bicubic["lr_consistency_psnr_y"] > 40  # bicubic up, bicubic down: near the LR
    assert list(outcome.gains) == ["prior"]
    assert outcome.gains["prior"]["psnr_y"] == pytest.approx(prior["psnr_y"] - bicubic["psnr_y"])
    assert outcome.gains["prior"]["roi_delta_e_mean"] == pytest.approx(prior["roi_delta_e_mean"] - bicubic["roi_delta_e_mean"])


def test_without_a_reference_the_rows_hold_what_needs_none_and_the_verdicts(field):
    inputs, results, settings = field
    verdict = {"verdict": "helped", "reason": "sharper where bicubic blurs", "expected_gain_db": 1.2, "interval_db": [0.6, 1.8]}
    outcome = compute_outcome(inputs, results, None, ROI, settings, verdicts={"prior": verdict})
    bicubic, prior = outcome.rows
    assert "psnr_y" not in prior and "roi_psnr_y" not in prior and outcome.classes is None and outcome.gains == {}
    assert prior["verdict"] == assess.verdict_label(verdict) == "likely helped, +1.2 dB ± 0.6"
    assert (prior["verdict_reason"], prior["expected_gain_db"], prior["interval_db"]) == ("sharper where bicubic blurs", 1.2, [0.6, 1.8])
    assert "verdict" not in bicubic
    assert list(prior)[-4:] == ["verdict", "verdict_reason", "expected_gain_db", "interval_db"]  # the CSV's last columns


def test_the_class_table_comes_from_the_parsing_map(field):
    inputs, results, settings = field
    reference = match_reference(inputs.lr, inputs.reference, 2)
    classes = compute_outcome(inputs, results, reference, ROI, settings).classes
    assert classes.names == CLASSES
    labels = result_labels(results["prior"])
    expected = {m: class_metrics(r.image, reference, labels, CLASSES) for m, r in results.items()}
    assert [row["method"] for row in classes.rows] == ["Bicubic", "Geometry prior"]
    for row, method in zip(classes.rows, METHODS):
        for name in CLASSES:
            assert row[f"{name} PSNR-Y (dB)"] == expected[method][name]["psnr_y"]
            assert row[f"{name} SSIM-Y"] == expected[method][name]["ssim_y"]
    shares = [expected["prior"][name]["fraction"] for name in CLASSES]
    assert sum(shares) == pytest.approx(1.0)
    assert classes.caption.startswith("Per class of the parsing map of Geometry prior") and f"nucleus {100 * shares[0]:.1f} %" in classes.caption
    bicubic_only = compute_outcome(inputs, {"bicubic": results["bicubic"]}, reference, ROI, settings)
    assert bicubic_only.classes is None  # no parsing map


def test_the_maps_are_drawn_map_side_wide_under_their_colour_bars(field):
    inputs, results, settings = field
    reference = match_reference(inputs.lr, inputs.reference, 2)
    region_maps = [Zoomed(np.zeros((4, 4, 3), np.float32), "Geometry prior: uncertainty (self-ensemble spread)", COLOURS["prior"])]
    outcome = compute_outcome(inputs, results, reference, ROI, settings, region_maps=region_maps)
    maps = outcome.maps
    assert [kind.name for kind in maps.kinds] == ["LR-consistency |ΔY| (8-bit levels)", "|ΔY| vs HR (8-bit levels)", "SSIM-Y vs HR"]
    lowest = min(np.nanpercentile(ssim_map_y(r.image, inputs.reference), 1) for r in results.values())
    assert maps.kinds[2].low == max(0.0, min(0.9, math.floor(lowest / 0.05) * 0.05)) and maps.kinds[2].high == 1.0
    assert [bar.image.shape for bar in maps.bars] == [(14, MAP_SIDE, 3)] * 3
    assert [bar.caption for bar in maps.bars][0] == "Colour bar: LR-consistency |ΔY| (8-bit levels): 0 (dark) to 10 (bright)"
    # 48 LR px x8 and 96 HR px x4: every map MAP_SIDE px a side
    assert [[view.image.shape for view in row] for row in maps.rows] == [[(MAP_SIDE, MAP_SIDE, 3)] * 3] * 2
    assert [view.caption for view in maps.rows[1]] == [f"Geometry prior: {kind.name}" for kind in maps.kinds]
    assert outcome.shown_maps() == [*maps.bars, *maps.rows[0], *maps.rows[1], *region_maps]
    alone = compute_outcome(inputs, results, None, ROI, settings).maps
    assert len(alone.kinds) == len(alone.bars) == 1 and [len(row) for row in alone.rows] == [1, 1]


def test_a_cache_is_asked_for_every_derived_value_and_computes_each_once(field):
    inputs, results, settings = field
    reference = match_reference(inputs.lr, inputs.reference, 2)
    store, computed = {}, []

    def cache(key, compute):
        if key not in store:
            computed.append(key)
            store[key] = compute()
        return store[key]

    first = compute_outcome(inputs, results, reference, ROI, settings, cache=cache)
    count = len(computed)
    second = compute_outcome(inputs, results, reference, ROI, settings, cache=cache)
    assert len(computed) == count and json.dumps(first.rows, default=str) == json.dumps(second.rows, default=str)
    assert ("consistency", inputs.degradation) + result_key(inputs, settings, "prior") in computed
    assert ("metrics", "hr-key") + result_key(inputs, settings, "bicubic") in computed
    assert ("labels",) + result_key(inputs, settings, "prior") in computed
    uncached = compute_outcome(inputs, results, reference, ROI, settings)
    assert json.dumps(uncached.rows, default=str) == json.dumps(first.rows, default=str)


def test_the_zip_and_the_report_are_built_from_the_outcome(field):
    inputs, results, settings = field
    reference = match_reference(inputs.lr, inputs.reference, 2)
    panel = Zoomed(np.full((8, 8, 3), 0.5, np.float32), "Geometry prior · rows 8-32, cols 8-32 (LR px) · nearest x4", COLOURS["prior"])
    outcome = compute_outcome(inputs, results, reference, ROI, settings, panels={"Geometry prior": panel})
    images = archive_images(outcome)
    assert [name for name in images if not name.startswith("maps/")] == ["lr_input.png", "bicubic_x2.png", "prior_x2.png", "hr_reference.png"]
    assert len([name for name in images if name.startswith("maps/")]) == 9  # 3 colour bars, 3 maps per method
    for name, image in (("prior_x2.png", results["prior"].image), ("lr_input.png", inputs.lr), ("hr_reference.png", inputs.reference)):
        assert np.array_equal(to_uint(load_image(images[name], name=name).pixels, 8), to_uint(image, 8))  # lossless at 8 bit
    zipped = zipfile.ZipFile(io.BytesIO(archive(outcome)))
    record = json.loads(zipped.read("settings.json"))
    assert (record["scale"], record["methods"], record["roi_lr_px"]) == (2, list(METHODS), {"row": 8, "col": 8, "height": 24, "width": 24})
    assert record["reference"]["name"] == "hr.png" and record["weights"]["prior"] == results["prior"].served.provenance()
    assert [row["method"] for row in json.loads(zipped.read("metrics.json"))] == list(METHODS)
    report = report_html(outcome)
    for text in ("MicroSR comparison: field, x2", panel.caption, "Per class of the parsing map", "PSNR-Y gain over bicubic (dB)",
                 "Colour bar: SSIM-Y vs HR", f"{outcome.rows[1]['psnr_y']:.3f}", results["prior"].served.sha256):
        assert text in report


def test_the_settings_in_words(field):
    inputs, results, settings = field
    record = settings_record(compute_outcome(inputs, results, None, ROI, settings))
    words = readable_settings(record, settings.titles)
    assert words["LR size"] == "48 x 48 px (width x height), 8-bit" and words["scale"] == "x2"
    assert words["methods"] == "Bicubic, Geometry prior" and words["device"] == "cpu (chosen: cpu)"
    assert words["tile"] == "automatic (from each network's memory bound and reach)"
    assert words["region of interest"] == "rows 8-32, cols 8-32 (LR px)" and words["HR reference"] == "none"


def test_a_result_that_does_not_reproduce_the_lr_is_named(field):
    inputs, results, settings = field
    flipped = {**results, "prior": replace(results["prior"], image=np.ascontiguousarray(results["bicubic"].image[::-1]))}
    outcome = compute_outcome(inputs, flipped, None, ROI, settings)
    bicubic, prior = (row["lr_consistency_psnr_y"] for row in outcome.rows)
    assert bicubic - prior > 6 and outcome.inconsistent_with_the_lr() == {"prior": pytest.approx(bicubic - prior)}
    assert compute_outcome(inputs, results, None, ROI, settings).inconsistent_with_the_lr() == {}
