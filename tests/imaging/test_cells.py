"""Single-cell extraction (MicroGAN §3.1): known disks, a real BCCD field, VOC boxes, the command."""

import json

import numpy as np
import pytest
from scipy import ndimage

from microsr_core.imaging.cells import (
    CellSettings,
    box_iou,
    cell_boxes,
    crop_boxes,
    extract_cells,
    match_boxes,
    paper_settings,
    read_voc_boxes,
    segment_cells,
)
from microsr_core.cli import main
from microsr_core.errors import ParameterError
from microsr_core.imaging.io import load_image, save_image

#: (centre row, centre column, radius) of synthetic cells; the last two touch.
DISKS = [(40, 50, 22), (120, 200, 30), (150, 60, 16), (60, 150, 18), (60, 186, 18)]


def _smear() -> np.ndarray:
    """A pale field with darker, pale-centred disks (like red cells), lightly blurred."""
    rows, cols = np.mgrid[:200, :260]
    image = np.full((200, 260, 3), (0.85, 0.88, 0.86), np.float32)
    for r, c, radius in DISKS:
        d = np.hypot(rows - r, cols - c)
        image[d <= radius] = (0.75, 0.55, 0.6)
        image[d <= radius * 0.4] = (0.8, 0.7, 0.72)
    return ndimage.gaussian_filter(image, (1, 1, 0))


def _disk_box(r, c, radius):
    return (r - radius, c - radius, r + radius + 1, c + radius + 1)


def test_every_synthetic_cell_is_found_with_a_tight_box():
    image = _smear()
    boxes = cell_boxes(image)
    truth = [_disk_box(*d) for d in DISKS]
    matched = match_boxes(boxes, truth, threshold=0.7)
    assert all(m is not None for m in matched), (boxes, truth)
    assert len(boxes) == len(DISKS)  # the touching pair is split, nothing else appears


def test_the_papers_recipe_alone_merges_touching_cells():
    boxes = cell_boxes(_smear(), paper_settings())
    truth = [_disk_box(*d) for d in DISKS]
    matched = match_boxes(boxes, truth, threshold=0.7)
    assert all(m is not None for m in matched[:3])  # the separate cells
    assert matched[3] is None or matched[4] is None  # one region for the pair


def test_crops_have_their_boxes_sizes_and_vary():
    image = _smear()
    boxes, crops = extract_cells(image, pad=3)
    assert len({crop.shape for crop in crops}) > 1
    for (row0, col0, row1, col1), crop in zip(boxes, crops):
        assert crop.shape == (row1 - row0, col1 - col0, 3) and crop.dtype == np.float32
        np.testing.assert_array_equal(crop, image[row0:row1, col0:col1])
    assert crop_boxes(image, [(-5, -5, 10, 10)], pad=0)[0].shape == (10, 10, 3)  # clipped


def test_labels_are_sequential_and_small_regions_dropped():
    labels = segment_cells(_smear())
    assert labels.dtype == np.int32 and labels.shape == (200, 260)
    assert set(np.unique(labels)) == set(range(len(DISKS) + 1))
    assert not segment_cells(_smear(), CellSettings(min_area=10**6)).any()


def test_blank_and_grey_images():
    assert cell_boxes(np.full((64, 64, 3), 0.8, np.float32)) == []
    assert len(cell_boxes(_smear()[:, :, 1])) == len(DISKS)


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError, match="odd"):
        CellSettings(window=10)
    with pytest.raises(ParameterError, match="channel"):
        CellSettings(channel="red")
    with pytest.raises(ParameterError, match="shape"):
        cell_boxes(np.zeros((4, 4, 4), np.float32))


def test_box_iou_and_one_to_one_matching():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (0, 5, 10, 15)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    # One found box covering two annotated ones recovers only the better one.
    assert match_boxes([(0, 0, 10, 10)], [(0, 0, 10, 9), (0, 0, 10, 10)]) == [None, 0]


def test_voc_boxes_become_half_open_rows_first(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text(
        "<annotation>"
        "<object><name>RBC</name><bndbox><xmin>11</xmin><ymin>21</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>"
        "<object><name>Platelets</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
        "</annotation>"
    )
    assert read_voc_boxes(xml) == [(20, 10, 40, 30)]
    assert len(read_voc_boxes(xml, ("RBC", "Platelets"))) == 2


@pytest.mark.parametrize("name", ["BloodImage_00010", "BloodImage_00100"])
def test_finds_the_annotated_cells_of_a_real_bccd_field(bccd_dir, name):
    image = load_image(bccd_dir / "images" / f"{name}.jpg").pixels
    found = cell_boxes(image)
    truth = read_voc_boxes(bccd_dir / "annotations" / f"{name}.xml")
    white = read_voc_boxes(bccd_dir / "annotations" / f"{name}.xml", ("WBC",))
    matched = match_boxes(found, truth)
    assert sum(m is not None for m in matched) / len(truth) >= 0.6
    assert all(m is not None for m in match_boxes(found, white))  # every white cell
    assert all((r1 - r0) * (c1 - c0) >= 800 for r0, c0, r1, c1 in found)  # no platelets or specks


def test_cells_command_writes_crops_and_boxes(tmp_path, capsys):
    save_image(tmp_path / "field.png", _smear())
    assert main(["cells", str(tmp_path / "field.png"), str(tmp_path / "out"), "--pad", "2"]) == 0
    index = json.loads((tmp_path / "out" / "cells.json").read_text())
    assert len(index["cells"]) == len(DISKS)
    first = index["cells"][0]
    row0, col0, row1, col1 = first["box"]
    assert load_image(tmp_path / "out" / first["file"]).pixels.shape == (row1 - row0, col1 - col0, 3)
    assert f"{len(DISKS)} cells" in capsys.readouterr().out
