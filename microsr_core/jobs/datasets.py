"""Training datasets for jobs: folders under the data root, and uploaded ZIPs unpacked safely.

A dataset is named by a string:

- ``"bccd/images"``: a folder under :func:`~microsr_core.paths.data_root` (a relative path, or
  an absolute one that lies inside the root; ``..`` and symbolic links leading out are refused);
- ``"upload:<folder>"``: a ZIP the user uploaded, unpacked by :func:`unpack_zip` into
  ``<home>/uploads/<folder>`` (:mod:`microsr_core.uploads`).

Layout: the images are the folder's ``images/`` subfolder when it has one, else the folder
itself. Masks (for trainers that need them) are files with the images' stems in ``masks/``
beside the images (``<dataset>/masks``, or ``<dataset>/../masks`` when the dataset is an
``images`` folder), as in ``shared/data/wbc_seg/dataset1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..imaging.data import IMAGE_SUFFIXES, MASKS_FOLDER, dataset_layout, list_images
from ..errors import ParameterError
from ..paths import data_root, resolve_inside
from ..uploads import UPLOAD_PREFIX, uploads_dir



@dataclass(frozen=True)
class Dataset:
    """A resolved training dataset."""

    #: The name the user gave (``bccd/images`` or ``upload:cells-1a2b3c4d``).
    label: str
    #: Folder of the training images.
    images: Path
    #: Folder of the masks, or None when there is none.
    masks: Path | None
    #: Number of images.
    count: int


def resolve_dataset_folder(spec: str | Path) -> Path:
    """The folder ``spec`` names (see the module docstring); refuses paths outside the roots."""
    text = str(spec).strip()
    if not text:
        raise ParameterError("no dataset given (a folder under the data root, or an uploaded ZIP)")
    if text.startswith(UPLOAD_PREFIX):
        root, rest = uploads_dir(), text[len(UPLOAD_PREFIX):]
    else:
        root, rest = data_root(), text
    folder = resolve_inside(root, rest)
    if not folder.is_dir():
        raise ParameterError(f"dataset '{text}': {folder} is not a folder")
    return folder


def inspect_dataset(spec: str | Path, *, needs_masks: bool = False) -> Dataset:
    """Resolve ``spec``, count its images and, when ``needs_masks``, check every image has a mask.

    Raises :class:`ParameterError` naming the dataset for a path outside the data root, a
    folder with no images, or missing masks.
    """
    folder = resolve_dataset_folder(spec)
    if folder in (data_root(), uploads_dir()):
        raise ParameterError(f"dataset '{spec}': choose a folder inside {folder}, not the root itself")
    images, masks = dataset_layout(folder)
    try:
        files = list_images(images)
    except ParameterError as exc:
        raise ParameterError(f"dataset '{spec}': {exc}") from None
    if needs_masks:
        if masks is None:
            raise ParameterError(
                f"dataset '{spec}' has no masks folder (expected {folder / 'masks'}): "
                "this method needs a mask for every image"
            )
        have = {p.stem for p in masks.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        missing = [p.name for p in files if p.stem not in have]
        if missing:
            raise ParameterError(
                f"dataset '{spec}': {len(missing)} of {len(files)} images have no mask in {masks} "
                f"(first: {', '.join(missing[:3])})"
            )
    return Dataset(str(spec), images, masks, len(files))


def list_dataset_folders(max_depth: int = 3, limit: int = 200) -> list[str]:
    """Folders under the data root that hold images, relative paths; ``masks/`` folders are the
    masks of their sibling images (the layout above), not datasets, and are left out."""
    root = data_root()
    found: list[str] = []
    if not root.is_dir():
        return found
    for current, dirs, files in os.walk(root):
        depth = len(Path(current).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < max_depth else []
        if (any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files) and Path(current) != root
                and Path(current).name != MASKS_FOLDER):
            found.append(Path(current).relative_to(root).as_posix())
        if len(found) >= limit:
            break
    return sorted(found)
