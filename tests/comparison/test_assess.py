"""assess: the evidence, the calibrated verdict, its fit and the command line, on small real images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from microsr_core.cli import main
from microsr_core.comparison import assess
from microsr_core.imaging.degrade import bicubic_downscale
from microsr_core.imaging.io import encode_image, load_image, save_image

FEATURES = ("consistency_gain_db", "change")


def calibration(sd: float = 0.5, k: float = 1.0) -> dict:
    """A hand-made model: gain = 1 + 0.5 (consistency gain - 2) for VDSR on bicubic LR."""
    fit = {"intercept": 1.0, "coefficients": {"consistency_gain_db": 0.5, "change": 0.0},
           "means": {"consistency_gain_db": 2.0, "change": 1.0}, "residual_sd": sd, "n": 10}
    return {"features": list(FEATURES), "interval_z": 1.2816, "decision_k": k, "ensemble": 2, "fits": {"vdsr@bicubic": fit}}


def test_predict_reads_the_linear_model_and_the_decision_rule():
    helped = assess.predict("vdsr", "bicubic", {"consistency_gain_db": 4.0, "change": 1.0}, calibration())
    assert helped["verdict"] == "helped" and helped["expected_gain_db"] == pytest.approx(2.0)
    assert helped["interval_db"] == pytest.approx([2.0 - 0.6408, 2.0 + 0.6408], abs=1e-3)
    assert helped["reason"] == "its result reproduces the LR 4.0 dB better than bicubic's under the estimated capture"
    assert assess.verdict_label(helped) == "likely helped, +2.0 dB ± 0.6"
    hurt = assess.predict("vdsr", "bicubic", {"consistency_gain_db": -4.0, "change": 1.0}, calibration())
    assert hurt["verdict"] == "hurt" and hurt["expected_gain_db"] == pytest.approx(-2.0)
    assert "4.0 dB worse" in hurt["reason"] and assess.verdict_label(hurt).startswith("likely made it worse, -2.0 dB")
    unsure = assess.predict("vdsr", "bicubic", {"consistency_gain_db": 1.0, "change": 1.0}, calibration())
    assert unsure["verdict"] == "unsure" and assess.verdict_label(unsure) == "can't tell"  # 0.5 dB within k sd = 0.5
    missing = assess.predict("vdsr", "real", {"consistency_gain_db": 1.0, "change": 1.0}, calibration())
    assert missing["verdict"] == "unsure" and missing["interval_db"] is None


def test_fit_recovers_a_linear_gain_and_pools_per_kind():
    rng = np.random.default_rng(0)
    rows = []
    for method in ("vdsr", "microgan"):
        for _ in range(60):
            x = rng.normal(0, 2, 2)
            rows.append({"method": method, "lr_kind": "real", "consistency_gain_db": x[0], "change": x[1],
                         "true_gain_db": 0.5 + 0.8 * x[0] + rng.normal(0, 0.1)})
    fitted = assess.fit_calibration(rows, FEATURES, command="test")
    assert sorted(fitted["fits"]) == ["*@real", "microgan@real", "vdsr@real"]
    fit = fitted["fits"]["vdsr@real"]
    assert fit["coefficients"]["consistency_gain_db"] == pytest.approx(0.8, abs=0.05)
    assert abs(fit["coefficients"]["change"]) < 0.05 and 0.05 < fit["residual_sd"] < 0.2
    assert 0 < fitted["decision_k"] <= 3  # a tenth of |expected| < k sd at most
    table = assess.accuracy_table([dict(r, pipeline="family") for r in rows], fitted)
    assert "| family | 120 |" in table and "| all | 120 |" in table


@pytest.fixture
def lr(sample):
    return bicubic_downscale(sample[100:164, 200:264], 2)


def test_bicubic_is_its_own_self_ensemble(lr):
    outputs = assess.self_ensemble(lr, "bicubic", 2, 8)
    assert len(outputs) == 8 and all(o.shape == (64, 64, 3) for o in outputs)
    assert max(np.abs(o - outputs[0]).max() for o in outputs) < 1e-5  # MATLAB bicubic is symmetric: flips commute


def test_evidence_of_vdsr_on_a_bicubic_lr(lr):
    gathered = assess.gather(load_image(encode_image(lr, "png")), 2, ["vdsr"])
    assert list(gathered.results) == ["bicubic", "vdsr"] and gathered.degradation.kind == "bicubic"
    assert len(gathered.ensembles["vdsr"]) == assess.ENSEMBLE
    values = assess.evidence(gathered, 2)["vdsr"]
    assert set(values) >= set(assess.DEFAULT_FEATURES)
    assert values["consistency_gain_db"] == values["consistency_bicubic_db"] > 0  # VDSR restores what bicubic blurs
    assert values["chroma_change"] < 0.05 < values["change"]  # VDSR works on Y and keeps bicubic's chroma
    assert 0 < values["spread"] < values["change"] and values["departure"] == pytest.approx(values["change"], rel=0.2)


def test_assess_command_writes_a_verdict_per_image_and_method(tmp_path, lr, capsys):
    save_image(tmp_path / "field.png", lr)
    out = tmp_path / "verdicts.json"
    assert main(["assess", "--lr", str(tmp_path / "field.png"), "--scale", "2", "--methods", "vdsr", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["field.png"]["vdsr"]
    assert row["verdict"] in ("helped", "hurt", "unsure") and row["interval_db"][0] < row["expected_gain_db"] < row["interval_db"][1]
    assert row["verdict"] == "helped" and row["expected_gain_db"] > 0.5  # VDSR on a bicubic LR of a smear
    assert "vdsr" in capsys.readouterr().out


def test_a_verdict_says_whether_its_weights_are_the_calibrated_ones(lr):
    """A calibration is a fact about the weights it was fitted on: the shipped one names the weights
    every row it saw came from, and a verdict computed by other weights says so in its reason."""
    from microsr_core.models.serving import served

    shipped = assess.load_calibration()
    assert shipped["weights"]["vdsr x2 bicubic"] == served("vdsr", 2, "bicubic").sha256
    gathered = assess.gather(load_image(encode_image(lr, "png")), 2, ["vdsr"])
    sha = gathered.results["vdsr"].served.sha256
    own = dict(calibration(), weights={"vdsr x2 bicubic": sha})
    row = assess.verdicts(gathered, 2, "bicubic", own)["vdsr"]
    assert row["calibration"] == assess.CALIBRATED and "calibrat" not in row["reason"]
    stale = assess.verdicts(gathered, 2, "bicubic", dict(own, weights={"vdsr x2 bicubic": "ab" * 32}))["vdsr"]
    assert stale["calibration"].startswith("calibrated on other weights") and stale["reason"].endswith(f"({stale['calibration']})")
    unseen = assess.verdicts(gathered, 2, "bicubic", dict(own, weights={}))["vdsr"]
    assert unseen["calibration"].startswith("not calibrated on these weights")


def test_assess_refuses_bad_input_in_one_line(tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert main(["assess", "--lr", str(tmp_path / "broken.png"), "--scale", "2", "--methods", "vdsr"]) == 2
    assert main(["assess", "--lr", str(tmp_path / "broken.png"), "--scale", "5", "--methods", "vdsr"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines) and "x5" in lines[1]


def test_region_maps_measure_the_region_and_the_consensus(lr):
    rows, cols = slice(8, 24), slice(4, 20)
    assert assess.region_spread(lr, "bicubic", 2, rows, cols).shape == (32, 32)
    assert assess.region_spread(lr, "bicubic", 2, rows, cols).max() < 1e-3  # bicubic commutes with flips
    spread = assess.region_spread(lr, "vdsr", 2, rows, cols)
    assert spread.shape == (32, 32) and spread.max() > 0
    gathered = assess.gather(load_image(encode_image(lr, "png")), 2, ["vdsr"], ensemble=1)
    threshold = max(3 * gathered.facts.noise_levels, 1.0)
    image = gathered.results["vdsr"].image
    image[10:20, 30:40] = np.clip(image[10:20, 30:40] + (threshold + 10) / 219, 0, 1)  # a patch only VDSR "draws"
    departure = assess.disagreement(gathered, "vdsr")
    assert departure.shape == (64, 64) and (departure[10:20, 30:40] > threshold).mean() > 0.9
    assert departure[departure > 0].min() > threshold and (departure > 0).sum() < 200  # nothing else stands above the noise
