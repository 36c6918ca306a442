"""Pure helpers of the comparison app (microsr_core.comparison.compare, .display, .downloads, imaging.roi and the
parsing-map helpers), against known answers and the core functions they build on."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile

from pathlib import Path

import numpy as np
import pytest

from microsr_core.comparison import compare, display, downloads
from microsr_core.imaging.align import align_reference
from microsr_core.imaging.degrade import Degradation, bicubic_upscale
from microsr_core.errors import AlignmentError
from microsr_core.imaging.io import image_hash, load_image, sample_image
from microsr_core.imaging.metrics import masked_psnr_y, masked_ssim_y, measure, psnr_y, ssim_y, stain_fidelity
from microsr_core.imaging.parsing import BACKGROUND, CLASSES, COLOURS, CYTOPLASM, NUCLEUS, parsing_classes, parsing_labels, parsing_overlay
from microsr_core.imaging.roi import Roi, default_roi, region_in_um, roi_from_box


@pytest.fixture(scope="module")
def truth():
    return sample_image()[:192, :256]


def test_roi_clamp_scale_intersect():
    assert Roi(-5, 250, 40, 40).clamp((100, 260)) == Roi(0, 220, 40, 40)
    assert Roi(0, 0, 500, 10).clamp((100, 260)) == Roi(0, 0, 100, 10)
    assert Roi(2, 3, 4, 5).scaled(3) == Roi(6, 9, 12, 15)
    assert Roi(0, 0, 10, 10).intersect(Roi(5, 8, 10, 10)) == Roi(5, 8, 5, 2)
    assert Roi(0, 0, 10, 10).intersect(Roi(10, 0, 5, 5)) is None
    assert default_roi(np.full((100, 30, 3), 0.5), 48) == Roi(35, 0, 30, 30)  # flat: the centre


def test_default_region_is_where_the_image_has_most_detail():
    smear = load_image(Path(__file__).resolve().parents[2] / "microsr_core" / "samples" / "bccd_BloodImage_00000.jpg").pixels
    roi = default_roi(smear, 48)
    detail = lambda r: float(np.sum(np.square(np.gradient(smear[r.slices()].mean(axis=2)))))  # noqa: E731
    centre = Roi((smear.shape[0] - 48) // 2, (smear.shape[1] - 48) // 2, 48, 48)
    assert roi.height == roi.width == 48 and detail(roi) > 2 * detail(centre)
    image = np.zeros((60, 80))
    image[40:52, 5:17] = np.random.default_rng(0).random((12, 12))  # one textured patch, off centre
    found = default_roi(image, 16)
    assert found.row <= 40 and found.row + 16 >= 52 and found.col <= 5 and found.col + 16 >= 17


def test_roi_from_box_takes_pixels_whose_centres_are_inside():
    # x is the column axis, y the row axis; pixel c has its centre at c.
    assert roi_from_box((9.6, 19.4), (4.5, 7.2), (50, 50)) == Roi(5, 10, 3, 10)
    assert roi_from_box((19.4, 9.6), (7.2, 4.5), (50, 50)) == Roi(5, 10, 3, 10)
    assert roi_from_box((40, 80), (-3, 2), (50, 50)) == Roi(0, 40, 3, 10)
    assert roi_from_box((3.1, 3.2), (3.1, 3.2), (50, 50)) == Roi(3, 3, 1, 1)


def test_nearest_zoom_repeats_pixels_exactly():
    image = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    big = display.nearest_zoom(image, 3)
    assert big.shape == (6, 6, 3)
    assert np.array_equal(big[::3, ::3], image) and np.array_equal(big[2, 5], image[0, 1])
    with pytest.raises(ValueError):
        display.nearest_zoom(image, 0)


def test_crop_follows_the_same_place_in_every_panel(truth):
    lr = Degradation("bicubic", 2).apply(truth)
    roi = Roi(10, 20, 16, 24)
    assert np.array_equal(display.crop(lr, roi), lr[10:26, 20:44])
    assert np.array_equal(display.crop(truth, roi, 2), truth[20:52, 40:88])
    # A reference covering SR rows 30.. and cols 50..: outside is filled, inside is its pixels.
    part = truth[30:100, 50:120]
    shown = display.crop(part, roi, 2, offset=(30, 50), fill=0.25)
    assert np.array_equal(shown[10:, 10:], truth[30:52, 50:88])
    assert np.all(shown[:10] == 0.25) and np.all(shown[:, :10] == 0.25)


def test_zoom_factor_gives_equal_panel_sizes():
    roi = Roi(0, 0, 30, 40)
    zoom = display.zoom_factor(roi, 4, 320)
    assert zoom == 2
    lr_panel = display.nearest_zoom(np.zeros((30, 40, 3)), zoom * 4)
    sr_panel = display.nearest_zoom(np.zeros((120, 160, 3)), zoom)
    assert lr_panel.shape == sr_panel.shape


def test_wipe():
    a, b = np.zeros((4, 10, 3), np.float32), np.ones((4, 10, 3), np.float32)
    mixed = display.wipe(a, b, 0.3, line=(0.5, 0.5, 0.5))
    assert np.all(mixed[:, :2] == 0) and np.all(mixed[:, 2:4] == 0.5) and np.all(mixed[:, 4:] == 1)
    assert np.array_equal(display.wipe(a, b, 0.0), b) and np.array_equal(display.wipe(a, b, 1.0), a)
    with pytest.raises(ValueError):
        display.wipe(a, b[:, :5], 0.5)


def test_colormap_and_display_shrink():
    values = np.array([[0.0, 5.0, 10.0, np.nan]])
    rgb = display.colormap(values, 0, 10)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.float32
    assert np.allclose(rgb[0, 0], display._COLORMAPS["magma"][0]) and np.allclose(rgb[0, 2], display._COLORMAPS["magma"][-1])
    assert np.allclose(rgb[0, 3], 0.5)
    assert rgb[0, 1].sum() > rgb[0, 0].sum()
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    small, factor = display.shrink_for_display(image, 2)
    assert factor == 2 and np.allclose(small, [[2.5, 4.5], [10.5, 12.5]])
    assert display.shrink_for_display(image, 8)[1] == 1


def test_image_hash_depends_on_content_and_settings():
    a = np.zeros((4, 4, 3), np.float32)
    assert image_hash(a) == image_hash(a.copy())
    assert image_hash(a) != image_hash(a[:2])
    assert image_hash(b"x", "bicubic") != image_hash(b"x", "gaussian")


def test_direct_reference_and_its_metrics_equal_measure(truth):
    lr = Degradation("bicubic", 2).apply(truth)
    reference = compare.match_reference(lr, truth, 2)
    assert reference.mode == "direct" and reference.window == Roi(0, 0, 96, 128) and reference.reliable
    sr = np.clip(bicubic_upscale(lr, 2), 0, 1)
    assert compare.reference_metrics(sr, reference) == measure(sr, truth, crop_border=2) | stain_fidelity(sr, truth, 2)
    # One extra row/column (a crop to a multiple of the scale) is still direct, and noted.
    padded = np.pad(truth, ((0, 1), (0, 1), (0, 0)), mode="edge")
    again = compare.match_reference(lr, padded, 2)
    assert again.mode == "direct" and again.notes and np.array_equal(again.hr, truth)


def test_aligned_reference_finds_the_field_and_compares_only_there(truth):
    lr = Degradation("bicubic", 2).apply(truth)
    hr = truth[40:120, 100:196]
    reference = compare.match_reference(lr, hr, 2)
    expected = align_reference(lr, hr, scale=2.0)
    assert reference.mode == "aligned" and reference.reliable
    assert reference.window == Roi(20, 50, 40, 48) == Roi(expected.row, expected.col, expected.height, expected.width)
    sr = np.clip(bicubic_upscale(lr, 2), 0, 1)
    assert np.array_equal(compare.sr_window(sr, reference), sr[40:120, 100:196])
    part = sr[40:120, 100:196]
    assert compare.reference_metrics(sr, reference) == measure(part, hr, crop_border=2) | stain_fidelity(part, hr, 2)
    assert "offset row 20, col 50" in reference.describe()


def test_reference_that_cannot_fit_raises_alignment_error(truth):
    lr = Degradation("bicubic", 2).apply(truth)
    with pytest.raises(AlignmentError):
        compare.match_reference(lr, truth[:6, :6], 2)


def test_region_metrics_are_the_metrics_of_the_overlap(truth):
    lr = Degradation("bicubic", 2).apply(truth)
    sr = np.clip(bicubic_upscale(lr, 2), 0, 1)
    reference = compare.match_reference(lr, truth[40:120, 100:196], 2)  # window rows 20-60, cols 50-98
    values = compare.region_metrics(sr, reference, Roi(10, 40, 30, 30))  # overlap rows 20-40, cols 50-70
    assert values["psnr_y"] == psnr_y(sr[40:80, 100:140], truth[40:80, 100:140])
    assert values["ssim_y"] == ssim_y(sr[40:80, 100:140], truth[40:80, 100:140])
    colour = stain_fidelity(sr[40:80, 100:140], truth[40:80, 100:140])
    assert values["delta_e_mean"] == colour["delta_e_mean"] > 0 and values["delta_e_p95"] == colour["delta_e_p95"]
    outside = compare.region_metrics(sr, reference, Roi(0, 0, 10, 10))
    assert all(math.isnan(value) for value in outside.values()) and len(outside) == 4
    tiny = compare.region_metrics(sr, reference, Roi(20, 50, 3, 3))
    assert math.isfinite(tiny["psnr_y"]) and math.isnan(tiny["ssim_y"])


@pytest.mark.parametrize("kind", ["bicubic", "gaussian"])
def test_lr_consistency_flags_invented_detail_where_it_is(truth, kind):
    degradation = Degradation(kind, 2)
    lr = degradation.apply(truth)
    faithful = compare.lr_consistency(truth, lr, degradation)  # the truth reproduces its LR
    assert faithful.psnr_y > 45 and faithful.error_map.shape == lr.shape[:2]
    invented = truth.copy()
    invented[100:116, 60:76] = 1.0  # a bright blob the LR does not show
    check = compare.lr_consistency(invented, lr, degradation)
    assert check.psnr_y < faithful.psnr_y - 5
    row, col = np.unravel_index(np.argmax(check.error_map), check.error_map.shape)
    assert 48 <= row < 60 and 28 <= col < 40
    assert "border 2 LR px" in check.convention() and degradation.describe().split(",")[0] in check.degradation


def test_parsing_labels_overlay_and_class_metrics(truth):
    # Channels in the prior network's order: nucleus, cytoplasm, background.
    scores = np.zeros(truth.shape[:2] + (3,), np.float32)
    scores[..., 2] = 1.0
    scores[50:150, 60:200, 1] = 2.0
    scores[80:120, 100:160, 0] = 3.0
    labels = parsing_labels(scores)
    assert labels[0, 0] == BACKGROUND and labels[60, 70] == CYTOPLASM and labels[100, 120] == NUCLEUS
    assert np.array_equal(parsing_labels(labels[..., None].astype(np.float32)), labels)
    assert parsing_classes(scores) == list(CLASSES)
    assert parsing_classes(scores[..., :2]) == ["class 0", "class 1"]
    assert parsing_classes(scores, ["a", "b", "c"]) == ["a", "b", "c"]
    overlay = parsing_overlay(truth, labels, 0.5)
    assert np.array_equal(overlay[0, 0], truth[0, 0])  # background stays as it is
    assert np.allclose(overlay[100, 120], 0.5 * truth[100, 120] + 0.5 * COLOURS[NUCLEUS])
    lr = Degradation("bicubic", 2).apply(truth)
    sr = np.clip(bicubic_upscale(lr, 2), 0, 1)
    reference = compare.match_reference(lr, truth, 2)
    values = compare.class_metrics(sr, reference, labels, list(CLASSES))
    assert values["nucleus"]["psnr_y"] == masked_psnr_y(sr, truth, labels == NUCLEUS, 2)
    assert values["cytoplasm"]["ssim_y"] == masked_ssim_y(sr, truth, labels == CYTOPLASM, 2)
    assert sum(v["fraction"] for v in values.values()) == pytest.approx(1.0)


def test_build_zip_holds_images_metrics_and_settings():
    rows = [{"method": "bicubic", "psnr_y": 30.25, "roi_ssim_y": math.nan}, {"method": "vdsr", "psnr_y": 31.0, "extra": 1}]
    data = downloads.build_zip({"bicubic_x2.png": b"PNG1", "lr_input.png": b"PNG0"}, rows, {"scale": 2, "x": math.inf})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["bicubic_x2.png", "lr_input.png", "metrics.csv", "metrics.json", "settings.json"]
        assert archive.read("bicubic_x2.png") == b"PNG1"
        table = list(csv.DictReader(io.StringIO(archive.read("metrics.csv").decode())))
        assert table[0]["psnr_y"] == "30.25" and table[0]["roi_ssim_y"] == "" and table[1]["extra"] == "1"
        assert json.loads(archive.read("metrics.json"))[0]["roi_ssim_y"] is None
        assert json.loads(archive.read("settings.json")) == {"scale": 2, "x": None}


def test_method_colours_are_stable_distinct_and_grey_for_bicubic():
    names = ["bicubic", "vdsr", "prior", "microgan"]
    colours = display.method_colours(names)
    assert colours == {"bicubic": "#8c8c8c", "vdsr": "#0072B2", "prior": "#D55E00", "microgan": "#009E73"}
    assert display.method_colours(names + ["vdsr@long"])["prior"] == "#D55E00"  # adding one moves no other
    many = display.method_colours([f"m{i}" for i in range(17)])
    assert len(set(many.values())) == len(display.METHOD_PALETTE) == 16 and many["m16"] == many["m0"]  # a dozen models: no repeat


def test_gains_over_bicubic_are_differences_on_the_same_image():
    rows = [{"method": "bicubic", "title": "Bicubic", "psnr_y": 41.45, "ssim_y": 0.9501},
            {"method": "vdsr", "title": "VDSR", "psnr_y": 41.75, "ssim_y": 0.9532},
            {"method": "prior", "title": "Prior", "psnr_y": math.nan, "ssim_y": 0.9401}]
    gains = compare.gains_over_baseline(rows, ["psnr_y", "ssim_y"], key="title")
    assert set(gains) == {"VDSR", "Prior"}
    assert gains["VDSR"]["psnr_y"] == pytest.approx(0.30) and gains["VDSR"]["ssim_y"] == pytest.approx(0.0031)
    assert math.isnan(gains["Prior"]["psnr_y"]) and gains["Prior"]["ssim_y"] == pytest.approx(-0.01)
    assert compare.gains_over_baseline(rows[1:], ["psnr_y"]) == {}


def test_scale_bar_is_the_largest_round_length_in_a_quarter_of_the_width():
    # 288 px at 0.0725 / 6 µm per px: a quarter is 0.87 µm, so the bar is 0.5 µm = 41.4 -> 41 px.
    assert display.scale_bar(0.0725 / 6, 288) == (0.5, 41)
    assert display.scale_bar(0.5, 400) == (50.0, 100)  # exactly a quarter fits
    assert display.scale_bar(0.65, 256) == (20.0, 31)
    assert display.scale_bar(2.0, 10) == (5.0, 2)
    with pytest.raises(ValueError, match="positive pixel size"):
        display.scale_bar(0.0, 100)


def test_draw_scale_bar_puts_an_outlined_bar_at_the_bottom_left():
    image = np.full((128, 128, 3), 0.5, np.float32)
    out = display.draw_scale_bar(image, 40)
    # thickness 128 // 64 = 2, margin 128 // 32 = 4: bar rows 122-123, cols 4-43; outline around it
    assert (out[122:124, 4:44] == 1.0).all() and (out[121, 3:45] == 0.0).all() and (out[124, 3:45] == 0.0).all()
    assert (out[122:124, 3] == 0.0).all() and (out[122:124, 44] == 0.0).all()
    changed = np.argwhere((out != image).any(axis=2))
    assert changed.min(axis=0).tolist() == [121, 3] and changed.max(axis=0).tolist() == [124, 44]
    assert (image == 0.5).all()  # the input is left as it was


def test_region_in_um():
    assert region_in_um(Roi(10, 20, 48, 64), 0.0725) == "3.48 x 4.64 µm (height x width), top-left at row 0.725 µm, col 1.45 µm"


def test_methods_far_less_consistent_with_the_lr_than_bicubic_are_named():
    db = {"bicubic": 48.0, "vdsr": 45.0, "microgan": 41.5, "prior": float("nan")}
    assert compare.inconsistent_with_the_lr(db) == {"microgan": 6.5}  # 3 dB is a normal difference; NaN is not a drop
    assert compare.inconsistent_with_the_lr({"vdsr": 10.0}) == {}  # nothing to compare with


def test_side_by_side_keeps_both_panels_whole_with_a_gap():
    left, right = np.full((4, 3, 3), 0.2, np.float32), np.full((6, 5, 3), 0.8, np.float32)
    pair = display.side_by_side(left, right, gap=2, fill=0.0)
    assert pair.shape == (6, 10, 3)
    assert np.array_equal(pair[:4, :3], left) and np.array_equal(pair[:, 5:], right)
    assert not pair[:, 3:5].any() and not pair[4:, :3].any()


def test_method_figures_put_the_key_figure_first_and_never_read_nan():
    run = {"weights": "vdsr_x2 (bicubic LR)", "seconds": 0.25, "device": "cpu", "tiles": 1,
           "lr_consistency_psnr_y": 41.234, "lr_consistency_max_abs_dy": 3.0}
    assert display.method_figures(run)[0] == ("LR-consistency PSNR-Y", "41.23 dB")
    with_reference = {**run, "psnr_y": 33.1234, "ssim_y": 0.91, "delta_e_mean": 1.5, "delta_e_p95": 3.0, "psnr_rgb": 32.0,
                      "ssim_rgb": 0.9, "roi_psnr_y": float("nan"), "roi_ssim_y": 0.8, "roi_delta_e_mean": 1.0, "roi_delta_e_p95": 2.0}
    figures = dict(display.method_figures(with_reference))
    assert display.method_figures(with_reference)[0] == ("PSNR-Y", "33.123 dB")
    assert figures["PSNR-Y region"] == "not measured" and figures["time"] == "0.250 s" and len(figures) == 16
    assert "nan" not in " ".join(figures.values())
