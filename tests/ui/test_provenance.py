"""Every output names the weights that computed it: for every served (method, scale, LR kind),
the metrics rows, the ZIP's settings.json and the HTML report carry the file and sha256 of
``result.served``, which is what :func:`~microsr_core.models.serving.served` resolves; republished
weights change the result key and the model-cache key.

Registry-driven over :func:`~microsr_core.models.serving.serving_table` on tiny random weights.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from microsr_core.models.catalog import method_catalog
from microsr_core.imaging.degrade import Degradation
from microsr_core.errors import WeightsError
from microsr_core.comparison.downloads import archive
from microsr_core.comparison.html_report import report_html
from microsr_core.comparison.inputs import Inputs, Settings, result_key
from microsr_core.comparison.outcome import compute_outcome
from microsr_core.models.inference import upscale
from microsr_core.paths import promoted_models_dir
from microsr_core.models.registry import create
from microsr_core.imaging.roi import Roi
from microsr_core.models.serving import served, serving_table
from microsr_core.ui import running
from microsr_core.ui.loaders import shared_method
from tests.helpers import publish_random

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VDSR = dict(depth=3, channels=8)
GAN = dict(levels=2, width=4)


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch, microsr_home):
    """vdsr (fallback) + vdsr_x2 + a real-capture vdsr_x2_real, microgan + microgan_upscale, a promoted vdsr@mine."""
    folder = tmp_path / "weights"
    monkeypatch.setenv("MICROSR_WEIGHTS", str(folder))
    publish_random(folder, "vdsr", "vdsr", "VDSR", (2, 3), seed=1, card_fields={"role": "fallback"}, **VDSR)
    publish_random(folder, "vdsr_x2", "vdsr", "VDSR", (2,), seed=2, card_fields={"training": {"steps": 7}}, **VDSR)
    publish_random(folder, "vdsr_x2_real", "vdsr", "VDSR", (2,), seed=3, card_fields={"lr_kind": "real"}, **VDSR)
    publish_random(folder, "microgan", "microgan", "MicroGANGenerator", (1,), seed=4, **GAN)
    publish_random(folder, "microgan_upscale", "microgan", "MicroGANGenerator", (2, 3), seed=5, **GAN)
    publish_random(promoted_models_dir(), "mine", "vdsr", "VDSR", (2,), seed=6, **VDSR)
    return folder


def _inputs(lr: np.ndarray, lr_kind: str, scale: int) -> Inputs:
    degradation = Degradation("gaussian" if scale == 1 else "bicubic", scale)
    return Inputs(lr, "crop", 8, f"crop-{lr_kind}", degradation, "test crop", lr_kind)


def _settings(scale: int, lr_kind: str, methods: list[str]) -> Settings:
    """What the sidebar's controls build, from the catalog, for ``methods``."""
    catalog = {info.name: info for info in method_catalog()}
    return Settings(scale, lr_kind, methods, {m: catalog[m].title for m in methods},
                            {m: catalog[m].served[scale, lr_kind] for m in methods},
                            {m: catalog[m].fingerprint(lr_kind) for m in methods},
                            {m: "#000000" for m in methods}, "cpu", "cpu", None, False)


def test_every_output_names_the_weights_that_computed_it(tiny_weights, sample):
    rows = serving_table()
    assert {(r.method, r.scale, r.lr_kind, r.entry) for r in rows} == {
        ("vdsr", 2, "bicubic", "vdsr_x2"), ("vdsr", 3, "bicubic", "vdsr"), ("vdsr", 2, "real", "vdsr_x2_real"),
        ("microgan", 1, "bicubic", "microgan"), ("microgan", 2, "bicubic", "microgan_upscale"),
        ("microgan", 3, "bicubic", "microgan_upscale"), ("vdsr@mine", 2, "bicubic", "mine")}
    lr = np.ascontiguousarray(sample[:24, :24])
    groups: dict[tuple[int, str], dict] = {}
    for row in rows:
        result = upscale(lr, create(row.method, torch.device("cpu"), row.lr_kind), row.scale)
        assert result.served == served(row.method, row.scale, row.lr_kind) == row
        groups.setdefault((row.scale, row.lr_kind), {})[row.method] = result
    for (scale, kind), results in groups.items():
        results["bicubic"] = upscale(lr, "bicubic", scale, lr_kind=kind)
        inputs, settings, roi = _inputs(lr, kind, scale), _settings(scale, kind, list(results)), Roi(0, 0, 8, 8)
        outcome = compute_outcome(inputs, results, None, roi, settings)
        metric_rows = outcome.rows
        record = json.loads(zipfile.ZipFile(io.BytesIO(archive(outcome))).read("settings.json"))
        report = report_html(outcome)
        assert record["lr_kind"] == kind
        for row in metric_rows:
            weights = results[row["method"]].served
            assert (row["weights_file"], row["weights_sha256"], row["lr_kind"]) == (weights.file, weights.sha256, kind)
            assert record["weights"][row["method"]] == weights.provenance()
            if weights.sha256 is not None:
                assert weights.file in report and weights.sha256 in report and weights.ref in report
                assert row["weights"] == f"{weights.entry} ({kind} LR)"
        assert f"<td>{kind}</td>" in report
    # At x2 the report names vdsr_x2 and its steps, never the multi-scale fallback that is not used there.
    x2 = report_html(compute_outcome(_inputs(lr, "bicubic", 2), groups[2, "bicubic"], None, Roi(0, 0, 8, 8),
                                     _settings(2, "bicubic", list(groups[2, "bicubic"]))))
    fallback = serving_table("vdsr")[1].card  # the fallback's card, serving x3
    assert fallback["file"] == "vdsr.safetensors" and fallback["sha256"] not in x2 and "<td>7</td>" in x2


def test_republished_weights_change_the_result_key_and_the_model_cache_key(tiny_weights, sample):
    lr = np.ascontiguousarray(sample[:24, :24])
    before = _settings(2, "bicubic", ["vdsr"])
    model = shared_method("vdsr", "cpu", "bicubic", before.fingerprints["vdsr"])
    assert shared_method("vdsr", "cpu", "bicubic", before.fingerprints["vdsr"]) is model
    assert running._upscale(lr, "vdsr", before).served.sha256 == before.served["vdsr"].sha256

    publish_random(tiny_weights, "vdsr_x2", "vdsr", "VDSR", (2,), seed=9, **VDSR)  # retrained
    after = _settings(2, "bicubic", ["vdsr"])
    inputs = _inputs(lr, "bicubic", 2)
    assert after.served["vdsr"].sha256 != before.served["vdsr"].sha256
    assert result_key(inputs, after, "vdsr") != result_key(inputs, before, "vdsr")
    assert after.fingerprints["vdsr"] != before.fingerprints["vdsr"]
    fresh = shared_method("vdsr", "cpu", "bicubic", after.fingerprints["vdsr"])
    assert fresh is not model and fresh.served(2).sha256 == after.served["vdsr"].sha256
    assert running._upscale(lr, "vdsr", after).served.sha256 == after.served["vdsr"].sha256

    # A model loaded before the republish can never be credited with the new weights.
    stale = Settings(**{**after.__dict__, "fingerprints": before.fingerprints})
    with pytest.raises(WeightsError, match="the weights changed while loading"):
        running._upscale(lr, "vdsr", stale)


def test_the_real_kind_runs_only_real_weights(tiny_weights, sample):
    catalog = {info.name: info for info in method_catalog()}
    assert (2, "real") in catalog["vdsr"].served and (2, "real") not in catalog["microgan"].served
    assert catalog["bicubic"].served[2, "real"].source == "none"
    real = upscale(np.ascontiguousarray(sample[:24, :24]), create("vdsr", torch.device("cpu"), "real"), 2)
    assert real.served.entry == "vdsr_x2_real"
    with pytest.raises(WeightsError, match="no weights for 'microgan' with real LR"):
        create("microgan", torch.device("cpu"), "real")
