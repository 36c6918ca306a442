"""The one dataset layout rule: images/ or the folder itself; masks/ inside, or beside an images folder."""

from microsr_core.imaging.data import dataset_layout


def test_dataset_layout_finds_images_and_masks_in_each_documented_place(tmp_path):
    whole = tmp_path / "dataset1"
    (whole / "images").mkdir(parents=True)
    (whole / "masks").mkdir()
    assert dataset_layout(whole) == (whole / "images", whole / "masks")
    assert dataset_layout(whole / "images") == (whole / "images", whole / "masks")  # ../masks beside an images folder
    flat = tmp_path / "fields"
    flat.mkdir()
    assert dataset_layout(flat) == (flat, None)
    (tmp_path / "masks").mkdir()
    assert dataset_layout(flat) == (flat, None)  # a masks folder beside any other folder is not its masks
