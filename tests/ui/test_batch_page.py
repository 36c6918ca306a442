"""The Batch page in AppTest: queue a batch job on a data-root folder, see it finish, its gallery
and its ZIP; a folder outside the data root is never offered, an empty choice is one error."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from microsr_core.jobs import JobStore
from tests.jobs.helpers import kill_workers, make_dataset, wait_status

APP = Path(__file__).resolve().parents[2] / "app.py"


def open_page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("MICROSR_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MICROSR_JOB_SLOTS", "cpu=1")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/batch.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def batch_page(tmp_path, monkeypatch, sample):
    make_dataset(tmp_path / "data" / "tiny" / "images", sample, train=3)
    yield open_page(tmp_path, monkeypatch)
    with JobStore() as store:
        kill_workers(store)


def test_queue_a_batch_see_its_gallery_and_download_it(batch_page):
    at = batch_page
    assert at.title[0].value == "Batch"
    assert at.selectbox(key="batch_folder").options == ["tiny/images"]
    at.selectbox(key="batch_folder").set_value("tiny/images")
    at.multiselect(key="batch_methods").set_value(["bicubic"])
    at.button(key="batch_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with JobStore() as store:
        job = wait_status(store, store.list()[0].id, timeout=120)
    assert job.status == "succeeded" and job.step == job.total == 4
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [image.proto.imgs[0].caption for image in at.get("image")] == [f"crop_{i:03d}.bicubic.x2.png" for i in range(4)]
    assert len(at.get("download_button")) == 1
    assert "4 of 4 outputs" in at.get("progress")[0].proto.text


def test_nothing_chosen_is_one_error_and_nothing_is_queued(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    at = open_page(tmp_path, monkeypatch)
    assert at.selectbox(key="batch_folder").value is None  # an empty data root offers nothing
    at.button(key="batch_submit").click().run()
    assert [e.value for e in at.error] == ["choose a folder of images or upload a ZIP of them"]
    with JobStore() as store:
        assert store.list() == []
