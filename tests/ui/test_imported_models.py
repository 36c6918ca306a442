"""Imported models in the app (AppTest, no browser): the Models page imports an uploaded file,
and the Compare page lists and runs ``import@<name>`` like any method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from microsr_core.models.imports import add_model, list_models
from tests.helpers import save_foreign_model, tiny_foreign_model

APP = Path(__file__).resolve().parents[2] / "app.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread", "microsr_home")


def test_the_models_page_imports_an_upload_and_refuses_a_bad_one(tmp_path):
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/models.py").run()
    weights = save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "compact.safetensors")
    at.file_uploader(key="import_file").set_value(("compact.safetensors", weights.read_bytes(), "application/octet-stream")).run()
    at.text_input(key="import_name").set_value("tiny").run()
    at.button(key="import_model").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Imported as method import@tiny: spandrel:Compact x2, RGB, 2,292 parameters, from compact.safetensors"]
    assert "import@tiny" in list(at.table[0].value["method"])
    assert any(e.label.startswith("tiny") and ": spandrel:Compact x2" in e.label for e in at.expander)

    at.file_uploader(key="import_file").set_value(("trained.pth", b"not a checkpoint" * 8, "application/octet-stream")).run()
    at.text_input(key="import_name").set_value("broken").run()
    at.button(key="import_model").click().run()
    assert [e.value for e in at.error] == ["trained.pth is not a PyTorch weights file (Unsupported operand 110)"]
    assert list(list_models()) == ["tiny"]


def test_the_compare_page_lists_and_runs_an_imported_model_with_metrics(tmp_path):
    add_model(save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "compact.pth"), "tiny")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.toggle(key="teaching").set_value(True).run()  # the LR is made from the sample, which is the HR reference
    at.selectbox(key="scale").set_value(2).run()
    assert "import@tiny" in at.multiselect(key="methods_x2").options
    at.multiselect(key="methods_x2").set_value(["bicubic", "import@tiny"]).run()
    at.button(key="run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frames = [frame.value for frame in at.dataframe]
    results = next(frame for frame in frames if "lr_consistency_psnr_y" in frame.columns)
    assert results.loc["import@tiny", "weights"] == "tiny (bicubic LR)" and results.loc["import@tiny", "seconds"] > 0
    metrics = next(frame for frame in frames if "psnr_y" in frame.columns)
    assert np.isfinite(metrics.loc["import@tiny", "psnr_y"]) and 15 < metrics.loc["import@tiny", "psnr_y"] < 60
