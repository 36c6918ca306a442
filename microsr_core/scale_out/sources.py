"""Large images read window by window, never whole: OME-Zarr, OME-TIFF/SVS pyramid levels
(tifffile's ``aszarr``), plain TIFF, and PNG/JPEG (read whole: they have no random access).

A :class:`LargeImage` is opened by path in every task that needs it (:func:`open_large` keeps
one per process), so only file names travel to the workers. Windows come out in the image
contract (float32 (h, w, 3) in [0, 1], :mod:`microsr_core.imaging.io`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageError
from ..imaging.io import load_image, to_rgb

#: Thumbnail side that the foreground mask is computed on at most (a pyramid level, or a stride).
THUMBNAIL_SIDE = 1024


@dataclass
class LargeImage:
    """A lazily read image: ``array`` indexed through ``axes`` (``y``, ``x``, ``c``; other axes at 0)."""

    path: str
    array: Any  # zarr.Array or numpy.ndarray
    axes: str
    #: Micrometres per pixel (rows, columns), None when the file does not say.
    pixel_size: tuple[float, float] | None
    #: The smaller levels of the same image (a pyramid's levels below this one, largest first), each (array, axes).
    smaller: tuple[tuple[Any, str], ...] = ()

    @property
    def height(self) -> int:
        return int(self.array.shape[self.axes.index("y")])

    @property
    def width(self) -> int:
        return int(self.array.shape[self.axes.index("x")])

    @property
    def bit_depth(self) -> int:
        return 16 if np.dtype(self.array.dtype).itemsize > 1 else 8

    def window(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """LR rows × cols (half-open) as float32 (h, w, 3) in [0, 1]."""
        return _contract(_read(self.array, self.axes, slice(*rows), slice(*cols)), self.path)

    def thumbnail(self) -> tuple[np.ndarray, float]:
        """A view at most :data:`THUMBNAIL_SIDE` a side and how many times smaller than this level
        it is per side: every n-th pixel of the smallest level at least that big (of this level
        when none is), read chunk by chunk, so no level is ever whole in memory."""
        array, axes = next(((a, x) for a, x in reversed(self.smaller) if max(_side(a, x, "y"), _side(a, x, "x")) >= THUMBNAIL_SIDE),
                           (self.array, self.axes))
        height, width = _side(array, axes, "y"), _side(array, axes, "x")
        stride = max(1, -(-max(height, width) // THUMBNAIL_SIDE))
        view = _read(array, axes, slice(None, None, stride), slice(None, None, stride))
        return _contract(view, self.path), self.height / height * stride


def _side(array: Any, axes: str, axis: str) -> int:
    return int(array.shape[axes.index(axis)])


def _read(array: Any, axes: str, rows: slice, cols: slice) -> np.ndarray:
    """array[...] with rows/cols on the y/x axes, all channels, index 0 elsewhere, as (h, w[, c])."""
    index = tuple(rows if a == "y" else cols if a == "x" else slice(None) if a == "c" else 0 for a in axes)
    kept = [a for a in axes if a in "yxc"]
    data = np.asarray(array[index])
    return np.moveaxis(data, kept.index("c"), -1) if "c" in kept else data


def _contract(data: np.ndarray, label: str) -> np.ndarray:
    if data.dtype == np.uint8:
        scaled = data.astype(np.float32) / 255.0
    elif data.dtype == np.uint16:
        scaled = data.astype(np.float32) / 65535.0
    elif data.dtype.kind == "f":
        scaled = np.clip(data.astype(np.float32), 0.0, 1.0)
    else:
        raise ImageError(f"{label}: sample type {data.dtype} is not supported (use 8 or 16 bit)")
    return np.ascontiguousarray(to_rgb(scaled, label, []), dtype=np.float32)


def _tiff_axes(axes: str) -> str:
    """tifffile series axes (``YXS``, ``CYX``, ``TCZYX``) in this module's letters."""
    return "".join({"Y": "y", "X": "x", "S": "c", "C": "c"}.get(a, "o") for a in axes)


def _tiff_pixel_size(tif) -> tuple[float, float] | None:
    """µm per pixel from OME-XML, an Aperio SVS description (``MPP = 0.25``), or None."""
    if tif.is_ome:
        sizes = {k: float(v) for k, v in re.findall(r'PhysicalSize([XY])="([0-9.eE+-]+)"', tif.ome_metadata or "")}
        if "X" in sizes:
            return sizes.get("Y", sizes["X"]), sizes["X"]
    match = re.search(r"MPP\s*=\s*([0-9.]+)", tif.pages[0].description or "")
    return (float(match.group(1)),) * 2 if match else None


def _open_tiff(path: Path, level: int) -> LargeImage:
    import tifffile
    import zarr

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        if level >= len(series.levels):
            raise ImageError(f"{path}: has {len(series.levels)} pyramid level(s), no level {level}")
        axes = _tiff_axes(series.levels[level].axes)
        pixel_size = _tiff_pixel_size(tif)
        levels = [_tiff_axes(found.axes) for found in series.levels]
    if pixel_size is not None and level:
        pixel_size = tuple(p * series.levels[0].shape[axes.index("y")] / series.levels[level].shape[axes.index("y")] for p in pixel_size)
    array, *smaller = (zarr.open(tifffile.imread(path, aszarr=True, level=index), mode="r") for index in range(level, len(levels)))
    return LargeImage(str(path), array, axes, pixel_size, tuple(zip(smaller, levels[level + 1 :])))


def _open_ome_zarr(path: Path, level: int) -> LargeImage:
    import zarr

    group = zarr.open_group(path, mode="r")
    attrs = dict(group.attrs)
    multiscales = attrs.get("ome", attrs).get("multiscales")
    if not multiscales:
        raise ImageError(f"{path}: a Zarr group without OME-NGFF multiscales metadata")
    image = multiscales[0]
    axes = "".join(a["name"] if a["name"] in "yxc" else "o" for a in image["axes"])
    datasets = image["datasets"]
    if level >= len(datasets):
        raise ImageError(f"{path}: has {len(datasets)} level(s), no level {level}")
    scale = next((t["scale"] for t in datasets[level].get("coordinateTransformations", []) if t["type"] == "scale"), None)
    units = {a["name"]: a.get("unit") for a in image["axes"]}
    pixel_size = None
    if scale is not None and units.get("x") == "micrometer":
        pixel_size = (float(scale[axes.index("y")]), float(scale[axes.index("x")]))
    smaller = tuple((group[dataset["path"]], axes) for dataset in datasets[level + 1 :])
    return LargeImage(str(path), group[datasets[level]["path"]], axes, pixel_size, smaller)


@functools.lru_cache(maxsize=8)
def _open_cached(path: str, level: int, stamp: float) -> LargeImage:
    source = Path(path)
    suffix = source.name.lower()
    try:
        if source.is_dir():
            return _open_ome_zarr(source, level)
        if suffix.endswith((".tif", ".tiff", ".svs", ".ndpi", ".scn")):
            return _open_tiff(source, level)
    except ImageError:
        raise
    except Exception as exc:  # tifffile and zarr raise many types for damaged files
        raise ImageError(f"{path}: not a readable OME-Zarr or TIFF ({type(exc).__name__}: {exc})") from exc
    if level:
        raise ImageError(f"{path}: a plain image has no pyramid level {level}")
    pixels = load_image(source).pixels  # PNG/JPEG/BMP: no random access, read whole (64 MP limit)
    return LargeImage(str(path), pixels, "yxc", None)


def open_large(path: str | Path, level: int = 0) -> LargeImage:
    """The image at ``path`` (an OME-Zarr folder, a TIFF/OME-TIFF/SVS file's pyramid ``level``, or a
    plain image), opened once per process and again when the file changes."""
    source = Path(path)
    if not source.exists():
        raise ImageError(f"{path}: no such file or folder")
    return _open_cached(str(source.resolve()), level, source.stat().st_mtime)


def describe(image: LargeImage) -> str:
    size = f", {image.pixel_size[1]:.4g} µm/px" if image.pixel_size else ""
    return f"{Path(image.path).name}: {image.width}x{image.height} px, {image.bit_depth}-bit{size}"


