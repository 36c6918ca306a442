"""Whole slides for the app: a real pyramidal OME-TIFF's overview comes from its smallest level
that is big enough, a region equals the same crop of the source exactly, and names never leave
the slide folders."""

from __future__ import annotations

import numpy as np
import pytest

from microsr_core.errors import ImageError, ParameterError, StorageError
from microsr_core.scale_out.slides import list_slides, uploaded_slides_dir, overview, read_region, region_name, save_slide, slide_path
from tests.helpers import full_disk, slide_pixels, write_pyramid

SHAPE = (2304, 3072)  # level 0; levels 1 and 2 are 1152 x 1536 and 576 x 768


@pytest.fixture(scope="module")
def pixels():
    return slide_pixels(*SHAPE)


@pytest.fixture
def slides(tmp_path, monkeypatch, pixels):
    monkeypatch.setenv("MICROSR_DATA_ROOT", str(tmp_path / "data"))
    folder = tmp_path / "data" / "slides" / "ward"
    folder.mkdir(parents=True)
    write_pyramid(folder / "smear.ome.tif", pixels)
    (folder / "notes.txt").write_text("not a slide")
    return folder


def test_the_overview_is_the_smallest_level_big_enough_read_every_other_pixel(slides, pixels):
    view = overview(slide_path("ward/smear.ome.tif"))
    # Level 1 (1536 px wide) is the smallest level of at least 1024 px: every 2nd pixel of it.
    assert view.image.shape == (576, 768, 3) and view.factor == 4.0
    np.testing.assert_array_equal(view.image, pixels[::4, ::4].astype(np.float32) / 255)
    assert (view.width, view.height, view.bit_depth, view.pixel_size) == (3072, 2304, 8, (0.25, 0.25))


def test_a_small_slide_is_its_own_overview(tmp_path, pixels):
    path = tmp_path / "small.ome.tif"
    write_pyramid(path, pixels[:600, :900], levels=2)
    view = overview(path)
    assert view.factor == 1.0 and view.image.shape == (600, 900, 3)


def test_a_region_equals_the_same_crop_of_the_source(slides, pixels):
    region = read_region(slide_path("ward/smear.ome.tif"), 1000, 700, 512, 300)
    np.testing.assert_array_equal(region, pixels[700:1000, 1000:1512].astype(np.float32) / 255)
    assert region_name("ward/smear.ome.tif", 1000, 700, 512, 300) == "smear.ome.tif [x=1000, y=700, 512×300]"


@pytest.mark.parametrize("x, y, width, height, message", [
    (3000, 0, 512, 512, "leaves the slide"), (0, -1, 64, 64, "leaves the slide"), (0, 0, 4096, 16, "1 to 2048 px a side"),
    (0, 0, 0, 16, "1 to 2048 px a side")])
def test_a_region_out_of_bounds_or_too_large_is_refused(slides, x, y, width, height, message):
    with pytest.raises(ParameterError, match=message):
        read_region(slide_path("ward/smear.ome.tif"), x, y, width, height)


def test_only_slides_under_the_folders_are_named(slides, tmp_path):
    (slides / "run.ome.zarr").mkdir()
    (slides / "run.ome.zarr" / "inner.tif").write_bytes(b"")  # inside an OME-Zarr: not listed on its own
    assert list_slides() == ["ward/run.ome.zarr", "ward/smear.ome.tif"]
    for name, message in [("../outside.tif", "outside the allowed folder"), ("ward/notes.txt", "not a slide"),
                          ("ward/gone.svs", "no such slide"), ("upload:../../x.tif", "outside the allowed folder")]:
        with pytest.raises(ParameterError, match=message):
            slide_path(name)


def test_an_uploaded_slide_is_kept_once_under_a_safe_name(microsr_home, slides):
    data = (slides / "smear.ome.tif").read_bytes()
    name = save_slide(data, "../../My slide.ome.tif")
    assert name.startswith("upload:") and name.endswith("-My-slide.ome.tif") and save_slide(data, "My slide.ome.tif") == name
    assert slide_path(name).read_bytes() == data and slide_path(name).is_relative_to(microsr_home)
    with pytest.raises(ParameterError, match="not a slide file"):
        save_slide(b"x", "notes.txt")


def test_a_full_disk_while_keeping_an_upload_is_one_line_and_leaves_nothing(microsr_home, slides, monkeypatch):
    data = (slides / "smear.ome.tif").read_bytes()
    with monkeypatch.context() as patch:
        full_disk(patch)
        with pytest.raises(StorageError) as error:
            save_slide(data, "My slide.ome.tif")
    assert str(error.value) == ("cannot write the uploaded slide My-slide.ome.tif: the disk is full; "
                                "nothing was kept: free space and upload it again")
    assert list(uploaded_slides_dir().iterdir()) == []  # no half-written slide, no temporary file
    name = save_slide(data, "My slide.ome.tif")  # space freed: the same upload is kept whole
    assert slide_path(name).read_bytes() == data and len(list(uploaded_slides_dir().iterdir())) == 1


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_slide_is_one_image_error(slides, damage):
    path = slides / "damaged.svs"
    data = (slides / "smear.ome.tif").read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"II*\x00garbage")
    with pytest.raises(ImageError, match="damaged.svs") as error:
        overview(slide_path("ward/damaged.svs"))
        read_region(slide_path("ward/damaged.svs"), 0, 0, 64, 64)
    assert "\n" not in str(error.value)
