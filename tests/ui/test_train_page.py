"""The Train page in AppTest: submit a short job, watch it reach 100 %, promote it, find it among the methods.

The job runs in a real detached worker process, exactly as from the browser.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from microsr_core.jobs import JobStore
from microsr_core.models.registry import method_names
from tests.jobs.helpers import kill_workers, make_dataset

APP = Path(__file__).resolve().parents[2] / "app.py"
TINY_TEXT = """\
depth = 3
channels = 8
patch = 24
val_crop = 48
threads = 1
validate_every = 3
checkpoint_every = 3
"""


@pytest.fixture
def train_page(tmp_path, monkeypatch, sample):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MICROSR_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MICROSR_JOB_SLOTS", "cpu=1")
    make_dataset(tmp_path / "data" / "tiny" / "images", sample)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    with JobStore() as store:
        kill_workers(store)


def _fill(at: AppTest, steps: int) -> None:
    at.selectbox(key="train_folder").set_value("tiny/images")
    at.multiselect(key="train_scales").set_value([2])
    at.number_input(key="train_steps").set_value(steps)
    at.number_input(key="train_batch").set_value(2)
    at.selectbox(key="train_device").set_value("cpu")
    at.text_area(key="train_extra").set_value(TINY_TEXT)


def test_submit_watch_progress_reach_100_percent_and_promote(train_page):
    at = train_page
    assert at.title[0].value == "Train"
    assert any("No training jobs yet" in info.value for info in at.info)
    _fill(at, steps=6)
    at.button(key="train_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Job 1 is running" in s.value for s in at.success)

    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        at.run()  # what the fragment's timer does in the browser
        assert not at.exception, [e.value for e in at.exception]
        seen.append(at.progress[0].value)
        if seen[-1] == 100 and "succeeded" in at.progress[0].proto.text:
            break
        time.sleep(0.5)
    assert seen[-1] == 100, seen
    assert seen == sorted(seen)  # progress only moves forward
    table = at.dataframe[0].value
    assert list(table["status"]) == ["succeeded"] and list(table["progress"]) == [100.0]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # losses, validation PSNR
    for chart in charts:  # over the whole run, integer steps: a young run's points sit where they belong
        axis = json.loads(chart.proto.spec)["layout"]["xaxis"]
        assert axis["range"] == [0, 6] and axis["tickformat"] == "d"
    assert "job 1: succeeded" in at.code[0].value  # the log tail

    at.text_input(key="train_promote_name_1").set_value("from-browser")
    at.button(key="train_promote_1").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("vdsr@from-browser" in s.value for s in at.success)
    assert "vdsr@from-browser" in method_names()
    # The comparison page builds its method list from the registry.
    from microsr_core.models.catalog import method_catalog

    promoted = {info.name: info for info in method_catalog()}["vdsr@from-browser"]
    assert promoted.available and promoted.scales == (2,)

    # Pick it on the comparison page and run it on the sample.
    at.switch_page("app.py").run()
    at.selectbox(key="scale").set_value(2).run()
    at.multiselect(key="methods_x2").set_value(["bicubic", "vdsr@from-browser"]).run()
    at.button(key="run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    results = next(frame.value for frame in at.dataframe if "seconds" in frame.value.columns)
    assert promoted.title in results.index and results.loc[promoted.title, "seconds"] > 0


def test_a_bad_request_shows_an_error_and_queues_nothing(train_page):
    at = train_page
    _fill(at, steps=6)
    at.file_uploader(key="train_zip").set_value(("cells.zip", b"this is not a zip", "application/zip"))
    at.button(key="train_submit").click().run()
    assert any("not a ZIP archive" in e.value for e in at.error)
    at.file_uploader(key="train_zip").set_value(None)
    at.text_area(key="train_extra").set_value("depth = three")
    at.button(key="train_submit").click().run()
    assert any("parameter 'depth': expected int, got 'three'" in e.value for e in at.error)
    with JobStore() as store:
        assert store.list() == []


def test_the_form_shows_each_methods_training_recipe(train_page):
    """The defaults a user gets are the recipes that produced the shipped weights (VDSR: Adam
    1e-4, never the paper's SGD at 0.1, which collapsed in our runs), per chosen method."""
    at = train_page
    assert at.selectbox(key="train_method").value == "vdsr"
    assert (at.number_input(key="train_steps").value, at.number_input(key="train_lr").value) == (1500, 1e-4)
    at.selectbox(key="train_method").set_value("prior").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="train_scales").value == [2, 4, 8]
    assert (at.number_input(key="train_steps").value, at.number_input(key="train_lr").value) == (3000, 2e-4)


def test_a_run_before_its_first_validation_says_when_it_comes():
    from types import SimpleNamespace

    from microsr_core.ui.train_widgets import _no_validation_yet

    job = SimpleNamespace(method="vdsr", params={"validate_every": "250"}, total=1000, step=120)
    assert "every 250 steps" in _no_validation_yet(job) and "at step 250 (now 120)" in _no_validation_yet(job)
    short = SimpleNamespace(method="vdsr", params={}, total=40, step=3)  # the recipe's interval, past the run's end
    assert "at step 40 (now 3)" in _no_validation_yet(short)
