"""The Benchmarks, Models and Train pages render from whatever the checkout holds, without errors."""

from __future__ import annotations

import base64
import json
import re
import tomllib
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from microsr_core.comparison import reports
from microsr_core.models.catalog import SHORT_SHA
from microsr_core.comparison.display import method_colours
from microsr_core.models.model_files import MAX_MB
from microsr_core.ui.inputs import IMAGE_UPLOAD_MB
from microsr_core.models.registry import method_names
from microsr_core.models.serving import serving_table
from microsr_core.models.weights import read_manifest

APP = Path(__file__).resolve().parents[2] / "app.py"


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def array(values) -> list:
    """A plotly JSON array: a list, or a typed array ``{"dtype", "bdata"}`` (base64 of the values)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_models_page_lists_every_registered_method_and_card(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path))  # no promoted models
    at = open_page("pages/models.py")
    listed = at.table[0].value
    assert list(listed["method"]) == method_names()
    cards = read_manifest()
    for name in cards:
        assert any(e.label.split(":")[0].split(" (")[0] == name for e in at.expander), name  # "name (x2/x4, bicubic LR): ..."
    if not cards:
        assert any("None yet" in i.value for i in at.info)
    served = serving_table()  # one row per served (method, scale, LR kind): the weights that compute it
    if served:
        shown = at.dataframe[0].value
        assert set(zip(shown["method"], shown["scale"], shown["LR kind"], shown["entry"], shown["sha256"], shown["bf16 auto"])) == {
            (r.method, f"x{r.scale}", r.lr_kind, r.ref, r.sha256[:SHORT_SHA], r.bf16_auto) for r in served}
        assert len(shown) == len(served)


def test_benchmarks_page_shows_reports_or_says_there_are_none(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "PROJECT_ROOT", tmp_path)  # an empty checkout
    at = open_page("pages/benchmarks.py")
    assert any("No benchmark results yet" in i.value for i in at.info)
    assert any("no speed run yet" in i.value for i in at.info)


def test_benchmarks_page_is_one_leaderboard_filterable_by_set_and_scale(tmp_path, monkeypatch):
    folder = tmp_path / "docs" / "eval"
    folder.mkdir(parents=True)

    def entry(psnr, scale, seconds=0.01):
        return {"psnr_y": psnr, "ssim_y": 0.9, "seconds_per_image": seconds, "n": 3, "scale": scale,
                "lr": f"MATLAB bicubic downscale x{scale}", "convention": f"Y, border {scale}"}

    served = {**entry(40.6, 2, 2.5), "weights_entry": "vdsr_x2"}  # what Compare runs at x2 (the shipped manifest)
    (folder / "vdsr_long_bccd_val_x2.json").write_text(json.dumps({"bicubic": entry(40.0, 2), "vdsr": served}))
    (folder / "vdsr_long_bccd_val_x4.json").write_text(json.dumps({"bicubic": entry(30.5, 4), "vdsr": entry(30.7, 4, 2.5)}))
    (folder / "vdsr_multi_wbc2_all_x4.json").write_text(json.dumps({"bicubic": entry(34.5, 4), "vdsr": entry(34.9, 4, 2.5)}))
    (tmp_path / "docs" / "other.json").write_text("{}")
    (tmp_path / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\n## CPU run, 2026-11-23\n\n- machine: 2 cores\n- command: `python bench/run.py --threads 1`\n\n"
        "| method | scale | median s |\n| --- | --- | --- |\n| vdsr | x2 | 28.936 |\n")
    monkeypatch.setattr(reports, "PROJECT_ROOT", tmp_path)
    at = open_page("pages/benchmarks.py")
    board = at.dataframe[0].value  # by default only what Compare runs today: the x4 rows predate recorded weights
    assert list(zip(board["method"], board["weights_entry"], board["scale"])) == [
        ("bicubic", "—", 2), ("vdsr [long]", "vdsr_x2", 2), ("bicubic", "—", 4), ("bicubic", "—", 4)]
    at.toggle(key="bench_in_compare").set_value(False).run()
    board = at.dataframe[0].value
    assert list(zip(board["method"], board["test_set"], board["scale"])) == [
        ("bicubic", "bccd_val", 2), ("vdsr [long]", "bccd_val", 2), ("bicubic", "bccd_val", 4), ("vdsr [long]", "bccd_val", 4),
        ("bicubic", "wbc2_all", 4), ("vdsr [multi]", "wbc2_all", 4)]
    assert board["gain_db"].round(6).tolist() == [0.0, 0.6, 0.0, 0.2, 0.0, 0.4]
    assert board["precision"].eq("fp32").all() and board["seconds_per_image"].tolist()[1] == 2.5
    text = " ".join(c.value for c in at.caption)
    assert "MATLAB bicubic downscale x4" in text and "Y, border 4" in text and "python -m microsr_core evaluate" in text
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = [(t["name"], array(t["x"]), [round(y, 6) for y in array(t["y"])]) for t in figure["data"]]
    assert bars == [("vdsr [long]", ["bccd_val x2 bicubic LR", "bccd_val x4 bicubic LR"], [0.6, 0.2]),
                    ("vdsr [multi]", ["wbc2_all x4 bicubic LR"], [0.4])], bars
    assert figure["layout"]["legend"]["orientation"] == "h"  # below the plot: a side legend was cut off
    colours = method_colours(["bicubic", "vdsr [long]", "vdsr [multi]"])
    assert [t["marker"]["color"] for t in figure["data"]] == [colours["vdsr [long]"], colours["vdsr [multi]"]]
    speed = at.dataframe[1].value
    assert speed.to_dict("records") == [{"method": "vdsr", "scale": "x2", "median s": "28.936"}]
    assert any("python bench/run.py --threads 1" in c.value for c in at.caption)
    assert any("not evaluate reports" in e.label for e in at.expander)

    at.multiselect(key="bench_scales").set_value([4]).run()
    at.multiselect(key="bench_sets").set_value(["wbc2_all"]).run()
    assert list(at.dataframe[0].value["method"]) == ["bicubic", "vdsr [multi]"]


def test_train_page_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path))  # a private job store
    at = open_page("pages/train.py")
    assert at.title[0].value == "Train"


def test_the_server_admits_every_uploader_limit_and_images_keep_their_own():
    """Streamlit's server refuses a body over ``server.maxUploadSize`` whatever a widget says (a
    512 MB model file was refused at 200 MB), so the server limit is the model import's, and the
    image uploaders set their smaller one."""
    server_mb = tomllib.loads((APP.parent / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.radio(key="source").set_value("Upload an image").run()
    image_limits = {uploader.proto.label: uploader.proto.max_upload_size_mb for uploader in at.get("file_uploader")}
    assert image_limits == {"Image (PNG, JPEG, TIFF, BMP; 8 or 16 bit)": IMAGE_UPLOAD_MB}, image_limits
    models = open_page("pages/models.py")
    assert [uploader.proto.max_upload_size_mb for uploader in models.get("file_uploader")] == [MAX_MB] == [server_mb]
    assert IMAGE_UPLOAD_MB < server_mb
    caption = " ".join(c.value for c in models.caption)
    assert f"at most {MAX_MB} MB" in caption


def test_every_upload_box_states_its_limit_in_mb():
    """The browser writes a limit over 500 MB as GB, rounded (512 read "1GB" beside a caption saying 512 MB)."""
    assert max(MAX_MB, IMAGE_UPLOAD_MB) <= 500


def page_texts(at: AppTest) -> list[str]:
    """Every text a user can read on the page: messages, captions, labels and every table cell."""
    texts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "text", "title", "header", "subheader", "success")
             for e in getattr(at, kind)]
    texts += [e.value.to_string() for kind in ("table", "dataframe") for e in getattr(at, kind)]
    return texts + [f"{e.label} {e.value}" for e in at.metric] + [e.label for e in at.expander]


def test_no_page_shows_nan(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_HOME", str(tmp_path))
    for page in ("pages/models.py", "pages/benchmarks.py", "pages/train.py", "pages/batch.py"):
        texts = page_texts(open_page(page))
        assert len(texts) > 3, page  # the page drew its content
        assert not [t for t in texts if re.search(r"\bnan\b", t, re.IGNORECASE)], page
