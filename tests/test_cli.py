"""The command line: real files in, real files out, one-line errors (no tracebacks)."""

import json
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from microsr_core.cli import main
from microsr_core.imaging.capture_condition import estimate_condition
from microsr_core.imaging.capture_family import pipeline_degradation
from microsr_core.imaging.degrade import bicubic_downscale
from microsr_core.imaging.io import load_image, save_image
from microsr_core.models.weights import read_manifest, sha256_of
from tests.helpers import publish_random

ROOT = Path(__file__).resolve().parents[1]


def test_upscale_writes_a_lossless_png(tmp_path, sample, capsys):
    save_image(tmp_path / "in.png", sample[:50, :60])
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--method", "bicubic", "--scale", "3"]) == 0
    assert load_image(tmp_path / "out.png").pixels.shape == (150, 180, 3)
    out = capsys.readouterr().out
    assert "bicubic x3 on cpu (fp32) with bicubic LR" in out
    assert estimate_condition(load_image(tmp_path / "in.png").pixels).line() + "\n" in out  # what the input's capture did, estimated


def test_upscale_prints_the_capture_maps_that_ran_and_refuses_an_override_nothing_reads(tmp_path, sample, capsys, monkeypatch):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path / "weights"))
    publish_random(tmp_path / "weights", "vdsr_x2_maps", "vdsr", "VDSR", (2,), card_fields={"lr_kind": "real"}, depth=3, channels=4, conditions=2)
    save_image(tmp_path / "in.png", sample[:50, :60])
    condition = estimate_condition(load_image(tmp_path / "in.png").pixels)
    args = ["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--scale", "2"]
    assert main([*args, "--method", "vdsr", "--lr-kind", "real", "--blur", "low"]) == 0
    out = capsys.readouterr().out
    assert condition.line() + "\n" in out  # the estimate, printed once and read by the network
    assert f"capture maps: noise {condition.noise:.1f} (estimated), detail 1.00 (override: blur low)\n" in out
    assert main([*args, "--method", "bicubic", "--noise", "high"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'bicubic' x2 ") and "reads no capture maps" in err and len(err.splitlines()) == 1
    assert main([*args, "--method", "bicubic"]) == 0 and "capture maps" not in capsys.readouterr().out


def test_upscale_auto_lr_kind_follows_the_image_facts_and_says_which_ran(tmp_path, sample, capsys):
    from microsr_core.imaging.lr_facts import lr_facts
    from microsr_core.models.catalog import choose_lr_kind

    save_image(tmp_path / "lr.png", bicubic_downscale(sample, 2))
    image = load_image(tmp_path / "lr.png")
    facts = lr_facts(image)
    expected = facts.suggested_kind or choose_lr_kind("auto", image).kind
    assert main(["upscale", str(tmp_path / "lr.png"), str(tmp_path / "out.png"), "--method", "vdsr", "--scale", "2", "--lr-kind", "auto"]) == 0
    out = capsys.readouterr().out
    assert f"({expected} LR)" in out and f"LR kind {expected}: " in out
    assert ("suggested by the image's facts" in out) == (facts.suggested_kind is not None)
    assert choose_lr_kind("bicubic", image).kind == "bicubic"  # an explicit kind is never second-guessed
    save_image(tmp_path / "tiny.png", sample[:6, :6])
    assert "cannot tell" in choose_lr_kind("auto", load_image(tmp_path / "tiny.png")).reason


def test_upscale_keeps_16_bit(tmp_path, sample):
    save_image(tmp_path / "in.tif", sample[:20, :20], bit_depth=16)
    main(["upscale", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"), "--scale", "2"])
    assert load_image(tmp_path / "out.tif").bit_depth == 16


def test_align_prints_offset(tmp_path, sample, capsys):
    save_image(tmp_path / "lr.png", bicubic_downscale(sample, 2))
    save_image(tmp_path / "hr.png", sample[64:256, 128:320])
    assert main(["align", str(tmp_path / "lr.png"), str(tmp_path / "hr.png"), "--scale", "2"]) == 0
    assert "offset row 32, col 64" in capsys.readouterr().out


def test_evaluate_writes_the_stable_json(tmp_path, sample):
    folder = tmp_path / "hr"
    for i in range(3):
        save_image(folder / f"{i}.png", sample[i * 100 : i * 100 + 96, :128])
    out = tmp_path / "out.json"
    assert main(["evaluate", "--hr", str(folder), "--scale", "4", "--methods", "bicubic", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    row = report["bicubic"]
    assert row["n"] == 3 and 20 < row["psnr_y"] < 45 and 0 < row["ssim_y"] < 1 and row["seconds_per_image"] > 0
    assert row["precision"] == "fp32"
    assert row["lr_kind"] == "bicubic" and row["weights_entry"] is None and row["weights_sha256"] is None  # no network


def test_evaluate_makes_the_reports_folder_first_or_refuses_before_the_work(tmp_path, sample, capsys):
    folder = tmp_path / "hr"
    save_image(folder / "0.png", sample[:96, :128])
    out = tmp_path / "new" / "deeper" / "out.json"  # a folder that does not exist yet
    assert main(["evaluate", "--hr", str(folder), "--scale", "2", "--methods", "bicubic", "--json", str(out), "--per-image"]) == 0
    assert json.loads(out.read_text())["bicubic"]["n"] == 1 and out.with_suffix(".per_image.csv").is_file()
    capsys.readouterr()
    (tmp_path / "file").write_text("not a folder")
    assert main(["evaluate", "--hr", str(folder), "--scale", "2", "--methods", "bicubic", "--json", str(tmp_path / "file" / "out.json")]) == 2
    err = capsys.readouterr().err
    assert "file is a file, not a folder" in err and "Traceback" not in err and "evaluate:" not in err  # refused before any image ran


def test_evaluate_gives_the_assumption_to_the_weights_that_read_capture_maps(tmp_path, sample, monkeypatch, capsys):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path / "weights"))
    publish_random(tmp_path / "weights", "vdsr_x2_maps", "vdsr", "VDSR", (2,), depth=3, channels=4, conditions=2)
    folder = tmp_path / "hr"
    for i in range(2):
        save_image(folder / f"{i}.png", sample[i * 100 : i * 100 + 96, :128])
    out = tmp_path / "out.json"
    args = ["evaluate", "--hr", str(folder), "--scale", "2", "--json", str(out), "--noise", "high"]
    assert main([*args, "--methods", "bicubic,vdsr"]) == 0
    report = json.loads(out.read_text())
    assert report["vdsr"]["capture_maps"] == "noise high, blur auto" and "capture_maps" not in report["bicubic"]
    capsys.readouterr()
    assert main([*args, "--methods", "bicubic"]) == 2
    assert "none of bicubic reads capture maps at x2" in capsys.readouterr().err


def test_evaluate_per_image_gives_each_file_its_gain_in_json_and_csv(tmp_path, sample):
    folder = tmp_path / "hr"
    for i in range(2):
        save_image(folder / f"field {i}.png", sample[i * 100 : i * 100 + 96, :128])
    out = tmp_path / "out.json"
    args = ["evaluate", "--hr", str(folder), "--scale", "2", "--methods", "bicubic,vdsr", "--degradation", "scanner", "--per-image", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    for name in ("bicubic", "vdsr"):
        rows = report[name]["per_image"]
        assert sorted(rows) == ["field 0.png", "field 1.png"]
        assert np.mean([row["psnr_y"] for row in rows.values()]) == pytest.approx(report[name]["psnr_y"])
    assert all(row["gain_db"] == 0 for row in report["bicubic"]["per_image"].values())
    gains = [row["gain_db"] for row in report["vdsr"]["per_image"].values()]
    assert all(gain != 0 for gain in gains) and "scanner pipeline" in report["vdsr"]["lr"]
    lr = replace(pipeline_degradation("scanner", 2), seed=zlib.crc32(b"field 0.png")).apply(load_image(folder / "field 0.png").pixels)
    expected = estimate_condition(lr).row()  # each row records its LR's estimated capture condition
    assert all(report[name]["per_image"]["field 0.png"][field] == pytest.approx(value) for name in ("bicubic", "vdsr") for field, value in expected.items())
    csv_lines = (tmp_path / "out.per_image.csv").read_text().splitlines()
    assert csv_lines[0] == ("method,image,psnr_y,ssim_y,gain_db,invented_colour_pct,nucleus_dice,cell_count_diff,nucleus_area_error_pct,"
                            "nc_ratio_error,capture_noise,capture_noise_low,capture_noise_high,capture_detail,capture_detail_low,capture_detail_high")
    assert len(csv_lines) == 5
    assert csv_lines[3].startswith("vdsr,field 0.png,") and float(csv_lines[3].split(",")[4]) == pytest.approx(gains[0], rel=1e-4)
    assert 0 <= report["vdsr"]["invented_colour_pct"] <= report["vdsr"]["invented_colour_pct_max"] < 1  # VDSR keeps bicubic's chroma
    for name in ("bicubic", "vdsr"):  # the segmenter on the HR and on each result: the same smear, close to the same nuclei
        assert 0.5 < report[name]["nucleus_dice"] <= 1 and all(0.5 < row["nucleus_dice"] <= 1 for row in report[name]["per_image"].values())


def test_publish_recheck_measures_bf16_and_refuses_a_tie(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr", "vdsr", "VDSR", (2, 3), seed=1, depth=3, channels=8)
    publish_random(tmp_path, "vdsr_x2", "vdsr", "VDSR", (2,), seed=2, depth=3, channels=8)
    assert main(["publish", "--recheck", "vdsr", "--role", "fallback"]) == 0
    card = read_manifest(tmp_path)["vdsr"]
    assert card["role"] == "fallback" and card["lr_kind"] == "bicubic" and sorted(card["bf16_delta_db"]) == ["2", "3"]
    assert all(delta != 0 and abs(delta) < 1 for delta in card["bf16_delta_db"].values())
    assert "rechecked vdsr" in capsys.readouterr().out and "| bf16_delta_db | x2 " in (tmp_path / "vdsr.md").read_text()
    assert main(["publish", "--recheck", "vdsr", "--role", "none"]) == 2  # vdsr and vdsr_x2 would tie at x2
    assert "'vdsr' and 'vdsr_x2'" in capsys.readouterr().err and read_manifest(tmp_path)["vdsr"]["role"] == "fallback"


def _vdsr_run(folder: Path, scale: int, subnormal: bool = False) -> Path:
    """A finished tiny VDSR run at ``scale``. ``subnormal``: the same function with its first layer
    scaled by 3e-6 (into float16's subnormal range, where rounding loses about a tenth of each
    weight) and the next layer by 1/3e-6 (ReLU passes the scale through), as a network trained
    without weight decay may end up."""
    from safetensors.torch import save_file

    net = publish_random(folder / "scratch", "net", "vdsr", "VDSR", (scale,), seed=3, depth=3, channels=8)
    state = net.state_dict()
    if subnormal:
        for key, factor in (("body.0.weight", 3e-6), ("body.0.bias", 3e-6), ("body.2.weight", 1 / 3e-6)):
            state[key] = state[key] * factor
        assert max(t.abs().max() for t in state.values()) < 65504  # no float16 overflow: rounding alone is measured
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    card = {"method": "vdsr", "architecture": "VDSR", "arch_kwargs": {"depth": 3, "channels": 8}, "scales": [scale], "training": {"steps": 1}}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_publish_fp16_stores_half_the_file_within_the_guard_and_refuses_past_it(tmp_path, monkeypatch, capsys):
    weights = tmp_path / "weights"
    monkeypatch.setenv("MICROSR_WEIGHTS", str(weights))
    assert main(["publish", str(_vdsr_run(tmp_path / "plain", 2)), "--name", "vdsr_x2", "--fp16"]) == 0
    card = read_manifest(weights)["vdsr_x2"]
    assert card["storage"] == "float16" and card["sha256"] == sha256_of(weights / "vdsr_x2.safetensors")
    assert (weights / "vdsr_x2.safetensors").stat().st_size < 0.6 * (tmp_path / "plain" / "model.safetensors").stat().st_size
    fp16_delta, bf16_delta = card["fp16_storage_delta_db"]["2"], card["bf16_delta_db"]["2"]
    assert 0 < abs(fp16_delta) <= 0.02 and bf16_delta != 0  # both measured, on the stored weights
    assert f"stored as float16 (rounding: x2 {fp16_delta:+.4f} dB)" in capsys.readouterr().out
    text = (weights / "vdsr_x2.md").read_text()
    assert "| storage | float16 |" in text and f"| fp16_storage_delta_db | x2 {fp16_delta:+.4f} dB" in text

    # the same function with weights float16 rounds coarsely: refused, in one line, with nothing written
    subnormal = _vdsr_run(tmp_path / "subnormal", 3, subnormal=True)
    before = sorted(weights.iterdir()), (weights / "manifest.json").read_text()
    assert main(["publish", str(subnormal), "--name", "vdsr_x3", "--fp16"]) == 2
    error = capsys.readouterr().err
    assert "'vdsr_x3' not stored as float16" in error and "past the 0.02 dB guard" in error and error.count("\n") == 1
    assert (sorted(weights.iterdir()), (weights / "manifest.json").read_text()) == before
    assert main(["publish", str(subnormal), "--name", "vdsr_x3"]) == 0  # as float32 it publishes
    stored = (weights / "vdsr_x3.safetensors").read_bytes(), (weights / "manifest.json").read_text()
    assert main(["publish", "--recheck", "vdsr_x3", "--fp16"]) == 2
    assert "past the 0.02 dB guard" in capsys.readouterr().err
    assert ((weights / "vdsr_x3.safetensors").read_bytes(), (weights / "manifest.json").read_text()) == stored
    assert "storage" not in read_manifest(weights)["vdsr_x3"]

    publish_random(weights, "vdsr_x4", "vdsr", "VDSR", (4,), seed=4, depth=3, channels=8)  # a published float32 card
    assert main(["publish", "--recheck", "vdsr_x4", "--fp16"]) == 0
    card = read_manifest(weights)["vdsr_x4"]
    assert card["storage"] == "float16" and abs(card["fp16_storage_delta_db"]["4"]) <= 0.02 and "4" in card["bf16_delta_db"]
    assert main(["publish", "--recheck", "vdsr_x4", "--fp16"]) == 0  # float16 already: the rounding record is kept
    assert read_manifest(weights)["vdsr_x4"]["fp16_storage_delta_db"] == card["fp16_storage_delta_db"]


@pytest.mark.parametrize("native", [False, True])
def test_recheck_keeps_a_bf16_measurement_where_bf16_is_not_native(native, tmp_path, monkeypatch, capsys):
    from microsr_core.models import precision

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(precision, "has_native_bf16", lambda: native)  # the CPU this test runs on is one of the two
    publish_random(tmp_path, "vdsr_x2", "vdsr", "VDSR", (2,), seed=1, depth=3, channels=8, card_fields={"bf16_delta_db": {"2": -0.5}})
    assert main(["publish", "--recheck", "vdsr_x2", "--fp16"]) == 0
    card, out = read_manifest(tmp_path)["vdsr_x2"], capsys.readouterr().out
    assert card["storage"] == "float16"
    if native:
        assert card["bf16_delta_db"]["2"] != -0.5 and "kept" not in out
    else:  # emulated bf16, and OpenVINO's bf16 run as fp32, would measure another arithmetic than the card's
        assert card["bf16_delta_db"] == {"2": -0.5} and "x2 -0.5000 dB (kept: this CPU has no native bf16" in out


def test_evaluate_on_wbc_dataset2_with_masks(tmp_path, wbc_dir):
    out = tmp_path / "out.json"
    images, masks = wbc_dir / "dataset2" / "images", wbc_dir / "dataset2" / "masks"
    args = ["evaluate", "--hr", str(images), "--scale", "4", "--methods", "bicubic", "--mask-dir", str(masks), "--limit", "5", "--json", str(out)]
    assert main(args) == 0
    row = json.loads(out.read_text())["bicubic"]
    assert row["n"] == 5 and row["psnr_y_mask"] < row["psnr_y"]  # the cell is harder than the background


@pytest.mark.parametrize(
    "args, message",
    [
        (["upscale", "{missing}", "{out}"], "no such file"),
        (["upscale", "{text}", "{out}"], "not an image"),
        (["upscale", "{good}", "{out}", "--method", "magic"], "unknown method 'magic'"),
        (["upscale", "{good}", "{out}", "--scale", "5"], "supports scales"),
        (["upscale", "{good}", "{tmp}/out.jpg"], "lossless"),
        (["upscale", "{good}", "{out}", "--method", "vdsr", "--device", "cpu", "--precision", "fp16"], "fp16 is for CUDA"),
        (["upscale", "{good}", "{out}", "--method", "prior", "--lr-kind", "real"], "supports scales x4 for real LR, not x2"),
        (["evaluate", "--hr", "{tmp}/nowhere", "--scale", "2"], "not a folder"),
        (["evaluate", "--hr", "{tmp}", "--scale", "2", "--methods", "prior", "--lr-kind", "real"], "does not support x2 for real LR (supports x4)"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, sample, args, message):
    save_image(tmp_path / "good.png", sample[:16, :16])
    (tmp_path / "text.png").write_text("hello")
    names = {"missing": tmp_path / "missing.png", "text": tmp_path / "text.png", "good": tmp_path / "good.png", "out": tmp_path / "o.png", "tmp": tmp_path}
    argv = [a.format(**names) for a in args]
    proc = subprocess.run([sys.executable, "-m", "microsr_core", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")


def test_models_add_list_upscale_remove(tmp_path, sample, microsr_home, capsys):
    from tests.helpers import save_foreign_model, tiny_foreign_model

    weights = save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "realesr-tiny.pth")
    assert main(["models", "add", str(weights), "--name", "tiny", "--scale", "2"]) == 0
    out = capsys.readouterr().out
    assert "as method import@tiny: spandrel:Compact x2, RGB" in out and "bf16 vs fp32: x2 " in out
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.startswith("import@tiny: spandrel:Compact x2, RGB, 2,292 parameters, from realesr-tiny.pth")
    save_image(tmp_path / "in.png", sample[:20, :24])
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--method", "import@tiny", "--scale", "2"]) == 0
    assert load_image(tmp_path / "out.png").pixels.shape == (40, 48, 3)
    assert "by import@tiny x2 on cpu" in capsys.readouterr().out

    assert main(["models", "add", str(weights), "--name", "tiny"]) == 2  # the name is taken
    assert main(["models", "add", str(weights), "--name", "other", "--scale", "4"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == ["error: an imported model named 'tiny' exists already (choose another name, or replace it)",
                      "error: scale x4 disagrees with the file: spandrel:Compact upscales x2"]
    assert main(["models", "remove", "tiny"]) == 0 and main(["models", "list"]) == 0
    assert "removed import@tiny (realesr-tiny.pth" in capsys.readouterr().out.splitlines()[0]
    assert read_manifest(microsr_home / "imports") == {}
