"""Large sources read window by window: OME-Zarr (our own output), a TIFF pyramid level, a plain PNG."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microsr_core.errors import ImageError
from microsr_core.imaging.io import sample_image, save_image
from microsr_core.scale_out.large import level_shapes, ngff_attributes
from microsr_core.scale_out.sources import open_large


@pytest.fixture
def pixels():
    return np.round(sample_image()[:70, :90] * 255).astype(np.uint8)


def test_an_ome_zarr_window_and_pixel_size(tmp_path, pixels):
    import zarr

    group = zarr.open_group(tmp_path / "in.ome.zarr", mode="w", zarr_format=3)
    group.create_array("0", data=np.moveaxis(pixels, -1, 0), chunks=(3, 32, 32))
    group.attrs.update(ngff_attributes(level_shapes(70, 90, 100), (0.4, 0.4), 1, {"source": "x"}))
    image = open_large(tmp_path / "in.ome.zarr")
    assert (image.height, image.width, image.bit_depth, image.pixel_size) == (70, 90, 8, (0.4, 0.4))
    np.testing.assert_array_equal(image.window((10, 30), (5, 50)), pixels[10:30, 5:50].astype(np.float32) / 255)


def test_a_tiff_level_and_an_svs_pixel_size(tmp_path, pixels):
    path = tmp_path / "slide.svs"
    tifffile.imwrite(path, pixels, tile=(32, 32), description="Aperio Image Library v12 |AppMag = 20|MPP = 0.5")
    image = open_large(path)
    assert image.pixel_size == (0.5, 0.5)
    np.testing.assert_array_equal(image.window((3, 40), (7, 77)), pixels[3:40, 7:77].astype(np.float32) / 255)
    with pytest.raises(ImageError, match="no level 1"):
        open_large(path, level=1)


def test_a_plain_png_a_16_bit_tiff_and_a_non_image(tmp_path, pixels):
    png = save_image(tmp_path / "in.png", pixels.astype(np.float32) / 255)
    np.testing.assert_array_equal(open_large(png).window((0, 5), (0, 5)), pixels[:5, :5].astype(np.float32) / 255)
    deep = tmp_path / "deep.tif"
    tifffile.imwrite(deep, pixels[:, :, 0].astype(np.uint16) * 257)  # grayscale 16-bit
    image = open_large(deep)
    assert image.bit_depth == 16 and image.window((0, 2), (0, 2)).shape == (2, 2, 3)
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(ImageError, match="bad.tif"):
        open_large(tmp_path / "bad.tif")
