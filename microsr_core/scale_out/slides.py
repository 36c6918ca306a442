"""Whole slides opened in the app: the slides a user may choose (files under the data root's
``slides`` folder, or an upload kept in MicroSR's home), an overview of one, and a region of it
read as an ordinary image.

A slide is named by a string that never becomes a path outside those two folders: a path
relative to ``<data root>/slides``, or ``"upload:<file>"`` for ``<home>/uploads/slides/<file>``.
Reading goes through :func:`.sources.open_large`, so neither the overview nor a region ever
loads a whole pyramid level.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageError, MicroSRError, ParameterError
from ..paths import data_root, resolve_inside
from ..uploads import UPLOAD_PREFIX, uploads_dir
from .outputs import writing
from .sources import describe, open_large

#: File names the slide list offers and an upload may have (an OME-Zarr is a folder ending in ``.zarr``).
SLIDE_SUFFIXES = (".tif", ".tiff", ".svs", ".ndpi", ".scn", ".zarr")
#: Largest region side (level-0 px) read for the Compare page: 4 MP, inside its decode limit.
MAX_REGION_SIDE = 2048


def slides_dir() -> Path:
    """The folder under the data root whose slides the app lists."""
    return data_root() / "slides"


def uploaded_slides_dir() -> Path:
    """Where uploaded slides are kept, each named by its content's sha256."""
    return uploads_dir() / "slides"


def _is_slide(path: Path) -> bool:
    return path.name.lower().endswith(SLIDE_SUFFIXES) and not path.name.startswith(".")


def list_slides() -> list[str]:
    """The slides under :func:`slides_dir` (sorted relative paths); an OME-Zarr's folder is one
    slide, not searched inside; symbolic links are not followed."""
    root = slides_dir()
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        found += [str((here / name).relative_to(root)) for name in dirs + files if _is_slide(here / name)]
        dirs[:] = [name for name in dirs if not name.startswith(".") and not _is_slide(here / name)]
    return sorted(found)


def slide_path(name: str) -> Path:
    """The file or folder of the slide ``name`` (see the module's naming); refuses anything else."""
    if name.startswith(UPLOAD_PREFIX):
        path = resolve_inside(uploaded_slides_dir(), name[len(UPLOAD_PREFIX) :])
    else:
        path = resolve_inside(slides_dir(), name)
    if not _is_slide(path):
        raise ParameterError(f"'{name}' is not a slide (a file or folder ending in {', '.join(SLIDE_SUFFIXES)})")
    if not path.exists():
        raise ParameterError(f"'{name}': no such slide")
    return path


def save_slide(data: bytes, name: str) -> str:
    """Keep an uploaded slide file; returns its slide name (``"upload:<sha256>-<name>"``). The same
    bytes are kept once; the file name is reduced to safe characters and must end like a slide."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).lstrip(".-")[-80:]
    if not _is_slide(Path(clean)) or clean.lower().endswith(".zarr"):
        raise ParameterError(f"'{name}' is not a slide file (OME-TIFF, SVS or TIFF: {', '.join(SLIDE_SUFFIXES[:-1])})")
    file_name = f"{hashlib.sha256(data).hexdigest()[:16]}-{clean}"
    target = uploaded_slides_dir() / file_name
    if not target.exists():
        _keep(data, target, clean)
    return UPLOAD_PREFIX + file_name


def _keep(data: bytes, target: Path, shown: str) -> None:
    """Write ``data`` under a temporary name beside ``target``, then rename it to ``target``: a
    slide is never half-written; a full disk is one :class:`~microsr_core.errors.StorageError`
    naming ``shown``, and the temporary file is removed."""
    with writing(f"the uploaded slide {shown}", "nothing was kept: free space and upload it again"):
        target.parent.mkdir(parents=True, exist_ok=True)
        out = tempfile.NamedTemporaryFile(dir=target.parent, prefix=".saving-", delete=False)
        try:
            with out:
                out.write(data)
            os.replace(out.name, target)
        finally:
            Path(out.name).unlink(missing_ok=True)


@contextmanager
def _reading(path: str | Path):
    """Any failure to decode the slide's pixels (a damaged tile, a truncated file) as one ImageError."""
    try:
        yield
    except MicroSRError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile, zarr and their codecs raise many types for damaged files
        raise ImageError(f"{Path(path).name}: damaged or unreadable ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class Overview:
    """A slide at a glance: ``image`` (float32 (h, w, 3), at most
    :data:`~.sources.THUMBNAIL_SIDE` a side) is ``factor`` times smaller per side than level 0,
    which is ``width`` × ``height`` px of ``bit_depth`` bits."""

    image: np.ndarray
    factor: float
    width: int
    height: int
    bit_depth: int
    pixel_size: tuple[float, float] | None
    description: str


def overview(path: str | Path) -> Overview:
    """The overview of the slide at ``path``, read from its smallest pyramid level that is big
    enough (:meth:`.sources.LargeImage.thumbnail`)."""
    with _reading(path):
        image = open_large(path)
        thumbnail, factor = image.thumbnail()
    return Overview(thumbnail, factor, image.width, image.height, image.bit_depth, image.pixel_size, describe(image))


def read_region(path: str | Path, x: int, y: int, width: int, height: int, max_side: int = MAX_REGION_SIDE) -> np.ndarray:
    """Level-0 columns ``x`` … ``x + width`` and rows ``y`` … ``y + height`` of the slide at
    ``path`` as float32 (height, width, 3) in [0, 1], read window by window; refuses a region
    outside the slide or over ``max_side`` a side."""
    if min(width, height) < 1 or max(width, height) > max_side:
        raise ParameterError(f"a region is 1 to {max_side} px a side, not {width}x{height}")
    with _reading(path):
        image = open_large(path)
        if min(x, y) < 0 or x + width > image.width or y + height > image.height:
            raise ParameterError(f"the region x={x}, y={y}, {width}x{height} leaves the slide ({image.width}x{image.height} px)")
        return image.window((y, y + height), (x, x + width))


def region_name(name: str, x: int, y: int, width: int, height: int) -> str:
    """``slide.ome.tif [x=1024, y=2048, 512×512]``: a region's name in panels and downloads."""
    return f"{Path(name).name} [x={x}, y={y}, {width}×{height}]"
