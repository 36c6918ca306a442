"""A whole slide on the Compare page (AppTest): chosen from the data root's slides folder or
uploaded, its overview shown, a region typed in becomes the LR image and gets panels; a region
out of bounds and a damaged upload are one error line each."""

from __future__ import annotations

import pytest

from microsr_core.ui import links, slides, state
from tests.helpers import full_disk, slide_pixels, write_pyramid
from tests.ui.test_ui_compare import captions, choose, opened, run_methods, start, upload

SHAPE = (1280, 1536)  # level 1 (640 x 768) is below 1024 px: the overview is level 0 every 2nd pixel


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_DATA_ROOT", str(tmp_path / "data"))
    (tmp_path / "data" / "slides").mkdir(parents=True)
    write_pyramid(tmp_path / "data" / "slides" / "smear.ome.tif", slide_pixels(*SHAPE), levels=2)
    at = start()
    at.radio(key="source").set_value("A region of a whole slide").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_a_region_of_a_listed_slide_is_compared_like_any_image(page):
    at = page
    assert at.selectbox(key="slide_name").options == ["smear.ome.tif"]
    at.selectbox(key="slide_name").set_value("smear.ome.tif").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [at.number_input(key=key).value for key in slides.REGION_KEYS] == [384, 512, 512, 512]  # the centre 512 x 512
    assert [chart.key for chart in at.get("plotly_chart")] == ["slide_overview", "overview"]  # the slide's, the region's
    at.session_state["slide_overview"] = {"selection": {"box": [{"x": [99.6, 200.2], "y": [10.5, 4000]}], "points": []}}
    at.run()  # a box dragged on the overview, in level-0 px: the pixel centres inside it, cut to the slide
    assert [at.number_input(key=key).value for key in slides.REGION_KEYS] == [11, 100, SHAPE[0] - 11, 101]
    for key, value in zip(slides.REGION_KEYS, (300, 700, 96, 128)):
        at.number_input(key=key).set_value(value)
    choose(at.run(), 2, ["bicubic"])
    run_methods(at)
    assert not at.error, [e.value for e in at.error]
    text = " ".join(c.value for c in at.caption)
    assert "LR input: smear.ome.tif [x=700, y=300, 128×96], 128x96 px, 8-bit." in text, text
    assert "Pixel size: from the slide's metadata." in text, text  # 0.25 µm/px from the OME-XML
    shown = captions(at)
    assert any(c.startswith("LR input ·") for c in shown) and any(c.startswith("Bicubic ·") for c in shown), shown


def test_a_region_out_of_bounds_and_a_damaged_upload_are_one_error_each(page):
    at = page
    at.selectbox(key="slide_name").set_value("smear.ome.tif").run()
    at.number_input(key="slide_x").set_value(SHAPE[1] - 100).run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"Slide smear.ome.tif: the region x={SHAPE[1] - 100}, y=384, 512x512 leaves the slide "
                                           f"({SHAPE[1]}x{SHAPE[0]} px)"]
    upload(at, "upload_slide", "broken.svs", b"II*\x00garbage")
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Slide broken.svs: ") and "\n" not in at.error[0].value


def test_an_uploaded_slide_opens_like_a_listed_one(page, tmp_path):
    at = page
    data = (tmp_path / "data" / "slides" / "smear.ome.tif").read_bytes()
    upload(at, "upload_slide", "field 7.ome.tif", data)
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = " ".join(c.value for c in at.caption)
    assert "LR input: field 7.ome.tif [x=512, y=384, 512×512], 512x512 px, 8-bit." in text, text


def test_a_full_disk_while_keeping_an_upload_is_one_error_line(page, tmp_path, monkeypatch):
    at = page
    full_disk(monkeypatch)
    upload(at, "upload_slide", "field 7.ome.tif", (tmp_path / "data" / "slides" / "smear.ome.tif").read_bytes())
    assert not at.exception
    assert [e.value for e in at.error] == ["Slide field 7.ome.tif: cannot write the uploaded slide field-7.ome.tif: the disk is full; "
                                           "nothing was kept: free space and upload it again"]


def region(at) -> list[int]:
    """The slide region's widgets (y, x, height, width, level-0 px) and the region of interest's (LR px)."""
    return [at.number_input(key=key).value for key in slides.REGION_KEYS + state.ROI_KEYS]


def test_a_link_made_on_a_listed_slide_reopens_the_same_slide_and_region(page):
    at = page
    at.selectbox(key="slide_name").set_value("smear.ome.tif").run()
    for key, value in zip(slides.REGION_KEYS, (300, 700, 96, 128)):
        at.number_input(key=key).set_value(value)
    at.run()  # the new region is a new LR image, with its own region of interest
    for key, value in zip(state.ROI_KEYS, (10, 20, 30, 40)):
        at.number_input(key=key).set_value(value)
    choose(at.run(), 2, ["bicubic"])
    link = dict(at.query_params)
    assert link["slide"] == "smear.ome.tif" and link["slide_region"] == "700,300,128,96" and "sample" not in link
    assert links.UPLOADED_SLIDE_LINK not in [c.value for c in at.caption]
    again = opened(link)
    assert again.radio(key="source").value == "A region of a whole slide" and again.selectbox(key="slide_name").value == "smear.ome.tif"
    assert region(again) == [300, 700, 96, 128, 10, 20, 30, 40] and not again.warning and not again.error
    assert dict(again.query_params) == link
    gone = opened({**link, "slide": "ward/other.svs"})
    assert gone.radio(key="source").value == "A region of a whole slide" and gone.selectbox(key="slide_name").value is None
    assert any("slide 'ward/other.svs' is not in the data root's slides folder" in w.value for w in gone.warning)


def test_a_link_made_on_an_uploaded_slide_says_so_and_asks_for_it_again(page, tmp_path):
    at = page
    data = (tmp_path / "data" / "slides" / "smear.ome.tif").read_bytes()
    upload(at, "upload_slide", "field 7.ome.tif", data)
    at.number_input(key="slide_x").set_value(64).run()
    link = dict(at.query_params)
    assert link["slide"] == "upload" and link["slide_region"] == "64,384,512,512"
    assert links.UPLOADED_SLIDE_LINK in [c.value for c in at.caption]
    again = opened(link)
    assert again.radio(key="source").value == "A region of a whole slide"
    assert any("made on an uploaded slide" in i.value and "upload it again" in i.value for i in again.info)
    upload(again, "upload_slide", "field 7.ome.tif", data)
    assert region(again)[:4] == [384, 64, 512, 512] and dict(again.query_params) == link
