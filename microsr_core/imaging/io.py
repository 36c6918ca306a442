"""Reading and writing images into MicroSR's one image contract.

The contract: ``numpy.ndarray`` of dtype float32, shape (H, W, 3), RGB, values in [0, 1].
Rows come first (row, column), as in scikit-image. The bit depth of the file (8 or 16) is
kept beside the pixels so that results can be saved back losslessly at the same depth.

Every problem with an input file raises :class:`~microsr_core.errors.ImageError` whose
message names the file and says what is wrong with it.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import png  # pypng: Pillow cannot read or write 16-bit colour PNG without losing bits
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError, ImageTooLarge

#: Default largest number of pixels MicroSR accepts in one input image (64 Mi ≈ 67 MP:
#: an 8192×8192 whole-slide tile fits, a 30000×30000 scan does not).
DEFAULT_MAX_PIXELS = 8192 * 8192

Source = Union[str, Path, bytes, BinaryIO]


#: IJG's standard luminance quantisation table (JPEG spec Annex K, natural order), quality 50.
_STANDARD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)


def jpeg_quality_of(table: list[int] | np.ndarray) -> int:
    """The IJG quality (1..100) whose scaling of the standard table best matches ``table``."""
    ratio = float(np.mean(np.asarray(table, dtype=np.float64)[:64] / _STANDARD_LUMINANCE)) * 100
    quality = (200 - ratio) / 2 if ratio <= 100 else 5000 / ratio
    return int(np.clip(round(quality), 1, 100))



class AlphaDroppedWarning(UserWarning):
    """An input image had an alpha channel, which MicroSR discards (it is never blended in)."""


@dataclass
class LoadedImage:
    """An image in the MicroSR contract plus what is needed to write it back.

    Attributes
    ----------
    pixels : ndarray, float32, shape (H, W, 3)
        RGB values in [0, 1].
    bit_depth : int
        8 or 16: the depth of the file, used when saving results.
    name : str
        File name (for messages).
    mode : str
        How the file stored its pixels (Pillow mode or ``tiff:<dtype>x<channels>``).
    notes : list of str
        Conversions that were applied (alpha dropped, palette expanded, EXIF rotation...).
    """

    pixels: np.ndarray
    bit_depth: int
    name: str
    mode: str
    notes: list[str] = field(default_factory=list)
    #: The IJG quality estimated from a JPEG file's quantisation table (None: not a JPEG).
    jpeg_quality: int | None = None


def _read_bytes(source: Source, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise ImageError(f"{label}: no such file")
        return path.read_bytes(), label
    if isinstance(source, bytes):
        return source, name or "uploaded image"
    data = source.read()
    return data, name or getattr(source, "name", "uploaded image")


def to_rgb(channels: np.ndarray, label: str, notes: list[str]) -> np.ndarray:
    """(H, W) or (H, W, C) float array -> (H, W, 3), dropping alpha with a warning (also for
    windows of images too large to load whole, :mod:`microsr_core.scale_out.sources`)."""
    if channels.ndim == 2:
        notes.append("grayscale replicated to RGB")
        return np.repeat(channels[:, :, None], 3, axis=2)
    n = channels.shape[2]
    if n in (2, 4):
        alpha = channels[:, :, -1]
        transparent = int(np.count_nonzero(alpha < 1.0))  # channels are normalised: 1 is fully opaque
        message = (
            f"{label}: alpha channel dropped ({transparent} pixels were not fully opaque); "
            "MicroSR super-resolves colour only and never blends alpha in"
        )
        warnings.warn(message, AlphaDroppedWarning, stacklevel=3)
        notes.append(message)
        channels = channels[:, :, :-1]
        n -= 1
    if n == 1:
        notes.append("grayscale replicated to RGB")
        return np.repeat(channels, 3, axis=2)
    if n == 3:
        return channels
    raise ImageError(f"{label}: {n} channels per pixel are not supported (expected 1 to 4)")


def _check_size(height: int, width: int, label: str, max_pixels: int) -> None:
    if height < 1 or width < 1:
        raise ImageError(f"{label}: image has no pixels ({width}x{height})")
    if height * width > max_pixels:
        raise ImageTooLarge(
            f"{label}: {width}x{height} = {height * width / 1e6:.1f} MP exceeds the limit of "
            f"{max_pixels / 1e6:.1f} MP"
        )


def _decode_tiff(data: bytes, label: str, max_pixels: int) -> tuple[np.ndarray, int, str]:
    try:
        with tifffile.TiffFile(_io.BytesIO(data)) as tif:
            page = tif.pages[0]
            shape = page.shape
            _check_size(int(shape[0]), int(shape[1]), label, max_pixels)
            array = page.asarray()
    except ImageError:
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        raise ImageError(f"{label}: not a readable TIFF ({exc})") from exc
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar storage
    mode = f"tiff:{array.dtype}x{1 if array.ndim == 2 else array.shape[2]}"
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0, 8, mode
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0, 16, mode
    if array.dtype.kind == "f":
        if np.nanmin(array) < 0 or np.nanmax(array) > 1 or np.isnan(array).any():
            raise ImageError(f"{label}: floating-point TIFF must hold values in [0, 1]")
        return array.astype(np.float32), 16, mode
    raise ImageError(f"{label}: TIFF sample type {array.dtype} is not supported (use 8 or 16 bit)")


def _decode_png16(data: bytes, label: str) -> tuple[np.ndarray, str]:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    array = array.reshape(height, width, planes)
    return array.astype(np.float32) / 65535.0, f"png16x{planes}"


def _is_png16(data: bytes) -> bool:
    # IHDR: bit depth at byte 24, colour type at byte 25 (2 = RGB, 4 = gray+alpha, 6 = RGBA).
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[24] == 16 and data[25] in (2, 4, 6)


def _decode_pillow(data: bytes, label: str, max_pixels: int, notes: list[str]) -> tuple[np.ndarray, int, str]:
    try:
        image = Image.open(_io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}: not an image file (or a format MicroSR cannot read)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{label}: refused as a possible decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # a damaged header (a PNG cut inside a chunk)
        raise ImageError(f"{label}: file is truncated or damaged ({exc})") from exc
    width, height = image.size
    _check_size(height, width, label, max_pixels)
    try:
        image.load()
        transposed = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label}: file is truncated or damaged ({exc})") from exc
    if transposed.size != image.size or transposed.getexif().get(0x0112, 1) != image.getexif().get(0x0112, 1):
        notes.append("EXIF orientation applied")
    mode = image.mode
    image = transposed
    if _is_png16(data):
        pixels, mode = _decode_png16(data, label)
        return pixels, 16, mode
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        if image.mode == "I" and (array.min() < 0 or array.max() > 65535):
            raise ImageError(f"{label}: 32-bit integer pixels are not supported (use 8 or 16 bit)")
        return array.astype(np.float32) / 65535.0, 16, mode
    if image.mode == "F":
        raise ImageError(f"{label}: floating-point images are supported as TIFF only")
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette expanded")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
        notes.append(f"{mode} converted to RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ImageError(f"{label}: pixel mode {mode} is not supported")
    return array.astype(np.float32) / 255.0, 8, mode


def load_image(source: Source, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file into the MicroSR contract.

    Parameters
    ----------
    source : path, bytes or binary file object
        PNG, JPEG, BMP or TIFF; 8- or 16-bit; grayscale, RGB, RGBA, palette or CMYK.
    name : str, optional
        Name used in messages (defaults to the path, or "uploaded image").
    max_pixels : int
        Largest accepted width × height (default :data:`DEFAULT_MAX_PIXELS`). Pillow's own
        decompression-bomb guard stays on in addition.

    Returns
    -------
    LoadedImage
        ``pixels`` float32 (H, W, 3) in [0, 1]; alpha dropped with an
        :class:`AlphaDroppedWarning`; EXIF orientation applied.

    Raises
    ------
    ImageError
        Not an image, truncated, too large, or an unsupported pixel type; the message names
        the file.
    """
    data, label = _read_bytes(source, name)
    if not data:
        raise ImageError(f"{label}: file is empty")
    notes: list[str] = []
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        channels, bit_depth, mode = _decode_tiff(data, label, max_pixels)
    else:
        channels, bit_depth, mode = _decode_pillow(data, label, max_pixels, notes)
    pixels = to_rgb(channels, label, notes)
    quality = None
    if data[:2] == b"\xff\xd8":  # JPEG: its tables were read with the header, no second decode
        tables = getattr(Image.open(_io.BytesIO(data)), "quantization", None) or {}
        quality = jpeg_quality_of(tables[0]) if 0 in tables else None
    return LoadedImage(np.ascontiguousarray(pixels, dtype=np.float32), bit_depth, label, mode, notes, quality)


def to_uint(pixels: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Quantise [0, 1] floats to uint8 or uint16 with rounding (values are clipped first)."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if pixels.dtype == np.uint8 and bit_depth == 8:
        return pixels  # already quantised (large outputs are produced as uint8)
    top = 255 if bit_depth == 8 else 65535
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return np.round(np.clip(pixels, 0.0, 1.0) * top).astype(dtype)


LOSSLESS_FORMATS = ("png", "tif", "tiff")


def output_format(path_or_suffix: str | Path) -> str:
    """The lossless format for an output name (``.png``, ``.tif``); anything else is an error.

    Called before any work is done, so a bad output name never costs a computation.
    """
    text = str(path_or_suffix)
    fmt = (Path(text).suffix or text).lower().lstrip(".")
    if fmt not in LOSSLESS_FORMATS:
        raise ImageError(f"cannot save as '{fmt}': MicroSR writes lossless PNG or TIFF only")
    return fmt


def _png_text_chunk(key: str, value: str) -> bytes:
    """One PNG ``tEXt`` chunk (keyword, NUL, Latin-1 text; PNG spec 11.3.4.3)."""
    body = key.encode("latin-1") + b"\x00" + value.encode("latin-1", errors="replace")
    return len(body).to_bytes(4, "big") + b"tEXt" + body + zlib.crc32(b"tEXt" + body).to_bytes(4, "big")


def _with_png_text(data: bytes, metadata: dict[str, str]) -> bytes:
    """PNG bytes with ``metadata`` as ``tEXt`` chunks right after IHDR (before the pixels, so a
    reader finds them without decoding the image). Done on the bytes, so 8- and 16-bit PNGs
    (Pillow and pypng) get the same chunks."""
    header_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes, CRC
    chunks = b"".join(_png_text_chunk(key, str(value)) for key, value in metadata.items())
    return data[:header_end] + chunks + data[header_end:]


def encode_image(pixels: np.ndarray, fmt: str = "png", bit_depth: int = 8, metadata: dict[str, str] | None = None) -> bytes:
    """Encode (H, W, 3) or (H, W) [0, 1] pixels losslessly as PNG or TIFF bytes.

    ``metadata`` (text keys and values: what made the image) goes into PNG ``tEXt`` chunks, or
    as JSON into the TIFF ImageDescription tag; :func:`read_metadata` reads either back.
    """
    fmt = output_format(fmt)
    array = to_uint(pixels, bit_depth)
    buffer = _io.BytesIO()
    if fmt in ("tif", "tiff"):
        description = json.dumps(metadata) if metadata else None
        tifffile.imwrite(buffer, array, photometric="rgb" if array.ndim == 3 else "minisblack",
                         description=description, metadata=None if description else {})
    else:
        if bit_depth == 16:
            height, width = array.shape[:2]
            planes = 1 if array.ndim == 2 else array.shape[2]
            writer = png.Writer(width, height, greyscale=planes == 1, bitdepth=16)
            writer.write(buffer, array.reshape(height, width * planes))
        else:
            Image.fromarray(array).save(buffer, format="PNG")
        if metadata:
            return _with_png_text(buffer.getvalue(), metadata)
    return buffer.getvalue()


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata`` :func:`save_image` wrote into a PNG or TIFF (``{}`` when it has none).

    Raises :class:`ImageError` for a file that is not a readable PNG or TIFF.
    """
    path = Path(path)
    try:
        if output_format(path) == "png":
            with Image.open(path) as image:
                return dict(getattr(image, "text", {}))
        with tifffile.TiffFile(path) as tif:
            description = tif.pages[0].description
        return json.loads(description) if description.startswith("{") else {}
    except (OSError, ValueError, SyntaxError, tifffile.TiffFileError) as exc:
        raise ImageError(f"{path}: cannot read its metadata ({exc})") from exc


def save_image(path: str | Path, pixels: np.ndarray, bit_depth: int = 8, metadata: dict[str, str] | None = None) -> Path:
    """Write pixels to ``path`` (``.png`` or ``.tif``/``.tiff``) losslessly, with ``metadata``
    as in :func:`encode_image`.

    The file is written to a temporary name and renamed, so a reader never sees half a file
    (and a run killed while writing never leaves one that counts as finished).
    """
    path = Path(path)
    data = encode_image(pixels, output_format(path), bit_depth, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path


def sample_image() -> np.ndarray:
    """The built-in sample: scikit-image's immunohistochemistry micrograph (512×512 RGB)."""
    from skimage import data

    return data.immunohistochemistry().astype(np.float32) / 255.0


def image_hash(*parts: bytes | str | np.ndarray) -> str:
    """A short content hash identifying an input (file bytes, settings, pixels)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str(part.shape).encode() + str(part.dtype).encode())
            part = np.ascontiguousarray(part).tobytes()
        elif isinstance(part, str):
            part = part.encode()
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()[:16]
