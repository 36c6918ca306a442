import numpy as np

from microsr_core.imaging.foreground import is_background, region_view


def test_glass_is_background_and_tissue_or_a_few_cells_are_not():
    rng = np.random.default_rng(0)
    glass = np.clip(0.95 + 0.01 * rng.standard_normal((64, 64, 3)), 0, 1).astype(np.float32)
    assert is_background(glass)
    cells = glass.copy()
    cells[20:26, 30:36] = 0.5  # about 1 % of the view: a small cell is enough to keep it
    assert not is_background(cells)
    assert not is_background(np.full((8, 8, 3), 0.6, np.float32))  # flat but stained


def test_region_view_grows_by_one_thumbnail_pixel():
    thumbnail = np.arange(100, dtype=np.float32).reshape(10, 10, 1)
    view = region_view(thumbnail, 8.0, (16, 32), (0, 8))
    assert view.shape[:2] == (4, 2)
