import pytest

from microsr_core.imaging.io import save_image


@pytest.fixture
def tiny_folder(tmp_path, sample):
    """Six 96×96 crops of the sample micrograph saved as PNG (a real, tiny dataset)."""
    folder = tmp_path / "images"
    for index, (top, left) in enumerate([(0, 0), (0, 200), (150, 100), (300, 300), (400, 0), (200, 400)]):
        save_image(folder / f"crop{index}.png", sample[top : top + 96, left : left + 96])
    return folder
