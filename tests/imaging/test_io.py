"""Image I/O: every supported kind of file lands in the one contract; bad files fail clearly."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from microsr_core.errors import ImageError
from microsr_core.imaging.io import AlphaDroppedWarning, encode_image, load_image, save_image


@pytest.fixture
def rgb8(sample) -> np.ndarray:
    return np.round(sample[:64, :80] * 255).astype(np.uint8)


def _png(array: np.ndarray, mode: str | None = None, **info) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG", **info)
    return buffer.getvalue()


def test_rgb_png_round_trips_exactly(rgb8):
    image = load_image(_png(rgb8), name="a.png")
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (64, 80, 3)
    assert image.bit_depth == 8
    np.testing.assert_array_equal(np.round(image.pixels * 255).astype(np.uint8), rgb8)


def test_grayscale_is_replicated(rgb8):
    image = load_image(_png(rgb8[:, :, 0]))
    assert image.pixels.shape == (64, 80, 3)
    np.testing.assert_array_equal(image.pixels[:, :, 0], image.pixels[:, :, 2])


def test_rgba_drops_alpha_with_warning(rgb8):
    rgba = np.dstack([rgb8, np.full(rgb8.shape[:2], 128, np.uint8)])
    pixels = rgb8.shape[0] * rgb8.shape[1]
    with pytest.warns(AlphaDroppedWarning, match=rf"alpha channel dropped \({pixels} pixels were not fully opaque\)"):
        image = load_image(_png(rgba), name="t.png")  # every alpha at 128: none is opaque
    # Colour is kept as it was, never blended with the alpha.
    np.testing.assert_array_equal(np.round(image.pixels * 255).astype(np.uint8), rgb8)


def test_palette_and_cmyk(rgb8):
    palette = Image.fromarray(rgb8).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    assert load_image(buffer.getvalue()).pixels.shape == (64, 80, 3)
    buffer = io.BytesIO()
    Image.fromarray(rgb8).convert("CMYK").save(buffer, format="JPEG")
    assert load_image(buffer.getvalue()).pixels.shape == (64, 80, 3)


def test_exif_orientation_is_honoured(rgb8):
    image = Image.fromarray(rgb8)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    loaded = load_image(buffer.getvalue())
    assert loaded.pixels.shape == (80, 64, 3)


def test_16bit_tiff_and_png_keep_their_depth(tmp_path, rgb8):
    rgb16 = rgb8.astype(np.uint16) * 257 + 3
    tifffile.imwrite(tmp_path / "a.tif", rgb16, photometric="rgb")
    image = load_image(tmp_path / "a.tif")
    assert image.bit_depth == 16
    np.testing.assert_array_equal(np.round(image.pixels * 65535).astype(np.uint16), rgb16)
    save_image(tmp_path / "b.png", image.pixels, bit_depth=16)
    again = load_image(tmp_path / "b.png")
    assert again.bit_depth == 16
    np.testing.assert_array_equal(np.round(again.pixels * 65535).astype(np.uint16), rgb16)
    gray16 = _png(rgb16[:, :, 1].astype(np.uint16))
    assert load_image(gray16).bit_depth == 16


def test_bmp_and_tiff_written_losslessly(tmp_path, rgb8):
    Image.fromarray(rgb8).save(tmp_path / "a.bmp")
    image = load_image(tmp_path / "a.bmp")
    save_image(tmp_path / "out.tif", image.pixels)
    np.testing.assert_array_equal(load_image(tmp_path / "out.tif").pixels, image.pixels)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    with pytest.raises(ImageError, match="notes.png: not an image"):
        load_image(path)


def test_truncated_file(rgb8):
    data = _png(rgb8)
    with pytest.raises(ImageError, match="cut.png: file is truncated"):
        load_image(data[: len(data) // 2], name="cut.png")


def test_pixel_limit(rgb8):
    with pytest.raises(ImageError, match=r"big.png: 80x64 .* exceeds the limit"):
        load_image(_png(rgb8), name="big.png", max_pixels=1000)


def test_decompression_bomb_is_refused():
    # A 30000×30000 PNG compresses to a few hundred kB; it must be refused before decoding.
    buffer = io.BytesIO()
    Image.new("L", (30000, 30000)).save(buffer, format="PNG")
    with pytest.raises(ImageError, match="huge.png"):
        load_image(buffer.getvalue(), name="huge.png")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="empty"):
        load_image(b"", name="empty.png")


def test_encode_refuses_lossy_format(rgb8):
    with pytest.raises(ImageError, match="lossless"):
        encode_image(rgb8 / 255.0, "jpg")


def test_no_warning_for_plain_rgb(rgb8):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(_png(rgb8))


def test_saved_metadata_reads_back_from_png_16_bit_png_and_tiff(tmp_path):
    from microsr_core.imaging.io import read_metadata

    pixels = np.random.default_rng(2).random((12, 9, 3)).astype(np.float32)
    text = {"method": "vdsr", "weights_sha256": "ab" * 32, "psnr_y": "31.5"}
    for name, depth in (("a.png", 8), ("b.png", 16), ("c.tif", 8)):
        path = save_image(tmp_path / name, pixels, depth, text)
        assert read_metadata(path) == text
        np.testing.assert_allclose(load_image(path).pixels, pixels, atol=0.5 / (255 if depth == 8 else 65535) + 1e-7)


def test_a_png_damaged_inside_a_header_chunk_is_an_image_error(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(save_image(tmp_path / "ok.png", np.zeros((4, 4, 3), np.float32)).read_bytes()[:20])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(path)
