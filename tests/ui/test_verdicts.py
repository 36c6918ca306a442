"""The verdicts and maps under every panel, through the real Compare page (AppTest, no browser)."""

from __future__ import annotations

import io
import zipfile

import pytest

from microsr_core.comparison import assess
from microsr_core.imaging.degrade import bicubic_downscale
from microsr_core.imaging.io import encode_image, load_image, sample_image
from microsr_core.comparison.compare import match_reference
from microsr_core.comparison.downloads import archive, archive_images
from microsr_core.comparison.html_report import report_html
from microsr_core.comparison.inputs import Inputs
from microsr_core.comparison.outcome import compute_outcome
from microsr_core.imaging.degrade import Degradation
from microsr_core.imaging.roi import Roi
from microsr_core.models.inference import upscale
from microsr_core.ui import verdicts
from tests.ui.test_provenance import _settings
from tests.ui.test_ui_compare import choose, run_methods, start, upload, use_upload


def image_captions(at) -> list[str]:
    return [image.caption for element in at.get("image") for image in element.proto.imgs]


@pytest.fixture
def lr():
    return bicubic_downscale(sample_image()[100:228, 200:328], 2)


def test_an_upload_without_hr_gets_a_verdict_and_maps_under_every_method(lr, one_torch_thread):
    at = upload(use_upload(start()), "upload_image", "field.png", encode_image(lr, "png", 8))
    run_methods(choose(at, 2, ["bicubic", "vdsr"]))
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    expected, _ = assess.assess_image(load_image(encode_image(lr, "png", 8), name="field.png"), 2, ["vdsr"])
    assert badges == [f":green-badge[{assess.verdict_label(expected['vdsr'])}]"]  # the CLI's verdict, on the page
    assert expected["vdsr"]["verdict"] == "helped"
    captions = [c.value for c in at.caption]
    assert expected["vdsr"]["reason"] in captions and "the baseline every verdict is measured against" in captions
    shown = image_captions(at)
    assert "VDSR-residual: uncertainty (self-ensemble spread)" in shown and "VDSR-residual: disagreement with the other methods" in shown
    # the method's card (the results read on a phone) carries the verdict too; the table keeps its 1280-px columns
    assert any(f"without HR: **{assess.verdict_label(expected['vdsr'])}**" in m.value for m in at.markdown)
    at.toggle(key="verdict_maps").set_value(False).run()
    assert not any("uncertainty" in caption for caption in image_captions(at))
    assert any(c.startswith("×8 self-ensemble (EDSR+)") and "8 × its" in c for c in (c.value for c in at.caption))
    at.button(key="ensemble_run").click().run()
    assert not at.exception
    assert any(caption.startswith("VDSR-residual ×8 self-ensemble mean: ") and "× one run" in caption for caption in image_captions(at))


def test_the_zip_and_the_report_carry_verdicts_maps_and_agreement(lr, one_torch_thread):
    hr = sample_image()[100:228, 200:328]
    results = {m: upscale(lr, m, 2) for m in ("bicubic", "vdsr")}
    inputs = Inputs(lr, "field", 8, "field-key", Degradation("bicubic", 2), "test field", "bicubic", hr, "hr", "hr-key")
    settings, roi = _settings(2, "bicubic", list(results)), Roi(8, 8, 32, 32)
    assessed = verdicts.assessment(inputs, results, settings)
    maps = verdicts.region_maps(inputs, settings, assessed, "vdsr", roi, 3)
    assert [m.image.shape for m in maps] == [(192, 192, 3)] * 2  # 32 LR px x2 x3, as the panel shows it
    under = verdicts.UnderPanels(inputs, settings, roi, assessed, True, maps)
    outcome = compute_outcome(inputs, results, match_reference(lr, hr, 2), roi, settings, verdicts=under.verdicts, region_maps=under.maps)
    rows = outcome.rows
    vdsr = next(row for row in rows if row["method"] == "vdsr")
    assert vdsr["verdict"] == assess.verdict_label(assessed.verdicts["vdsr"]) and vdsr["verdict"].startswith("likely helped")
    assert 0.8 < vdsr["nucleus_dice"] <= 1 and vdsr["cell_count_diff"] == next(r for r in rows if r["method"] == "bicubic")["cell_count_diff"] == 0
    # the maps section's (3 colour bars, 3 maps a method), then those under the panels
    names = [name for name in archive_images(outcome) if name.startswith("maps/")]
    assert len(names) == 11 and names[-2:] == [
        "maps/09_VDSR_residual_uncertainty_self_ensemble_spread.png", "maps/10_VDSR_residual_disagreement_with_the_other_methods.png"]
    zipped = zipfile.ZipFile(io.BytesIO(archive(outcome)))
    assert "likely helped" in zipped.read("metrics.csv").decode() and "nucleus_dice" in zipped.read("metrics.csv").decode()
    report = report_html(outcome)
    for text in ("verdict without HR", vdsr["verdict"], "uncertainty (self-ensemble spread)", "nucleus Dice vs HR"):
        assert text in report
