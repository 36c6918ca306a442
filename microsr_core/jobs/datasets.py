"""Training datasets for jobs: folders under the data root, and uploaded ZIPs unpacked safely.

A dataset is named by a string:

- ``"bccd/images"``: a folder under :func:`~microsr_core.paths.data_root` (a relative path, or
  an absolute one that lies inside the root; ``..`` and symbolic links leading out are refused);
- ``"upload:<folder>"``: a ZIP the user uploaded, unpacked by :func:`unpack_zip` into
  ``<home>/uploads/<folder>``.

Layout: the images are the folder's ``images/`` subfolder when it has one, else the folder
itself. Masks (for trainers that need them) are files with the images' stems in ``masks/``
beside the images (``<dataset>/masks``, or ``<dataset>/../masks`` when the dataset is an
``images`` folder), as in ``shared/data/wbc_seg/dataset1``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..imaging.data import IMAGE_SUFFIXES, MASKS_FOLDER, dataset_layout, list_images
from ..errors import ParameterError
from ..paths import data_root, home_dir, resolve_inside

UPLOAD_PREFIX = "upload:"
#: Limits for uploaded ZIPs (uncompressed bytes in all, members extracted).
MAX_UPLOAD_BYTES = int(os.environ.get("MICROSR_MAX_UPLOAD_BYTES", 2 << 30))
MAX_UPLOAD_FILES = int(os.environ.get("MICROSR_MAX_UPLOAD_FILES", 20000))


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


def uploads_dir() -> Path:
    """Where uploaded ZIPs are unpacked."""
    return home_dir() / "uploads"


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


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:g} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def _safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path of a ZIP member, None to skip it; raises for an unsafe name."""
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        raise ParameterError(f"ZIP member '{name}' has an absolute or non-portable path")
    path = PurePosixPath(name)
    if any(part == ".." for part in path.parts):
        raise ParameterError(f"ZIP member '{name}' points outside the archive ('..')")
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts):
        return None
    return PurePosixPath(*parts)


def unpack_zip(
    source: str | Path | bytes | BinaryIO,
    name: str = "upload",
    *,
    max_bytes: int | None = None,
    max_files: int | None = None,
) -> str:
    """Unpack an uploaded ZIP of images (and masks) into ``<home>/uploads``; returns its dataset name.

    Only image files are extracted. The whole archive is refused (:class:`ParameterError`) if
    any member has an absolute path or ``..``, is a symbolic link or encrypted, or if the
    images exceed ``max_bytes`` uncompressed or ``max_files`` files. Sizes are counted while
    extracting, not taken from the archive's headers. The same archive unpacks to the same
    folder (named by its sha256), so uploading it twice reuses the first copy.

    Returns
    -------
    str
        ``"upload:<folder>"``, to pass as a job's dataset.
    """
    max_bytes = MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    max_files = MAX_UPLOAD_FILES if max_files is None else max_files
    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        data = source.read()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(name).stem).strip("-")[:40] or "upload"
    folder_name = f"{stem}-{hashlib.sha256(data).hexdigest()[:10]}"
    target = uploads_dir() / folder_name
    if target.is_dir():
        return UPLOAD_PREFIX + folder_name
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ParameterError(f"'{name}' is not a ZIP archive") from None
    uploads_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=uploads_dir()))
    try:
        written, count = 0, 0
        with archive:
            for info in archive.infolist():
                relative = _safe_member_path(info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ParameterError(f"ZIP member '{info.filename}' is a symbolic link")
                if info.is_dir() or relative is None or relative.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if info.flag_bits & 0x1:
                    raise ParameterError(f"ZIP member '{info.filename}' is encrypted")
                count += 1
                if count > max_files:
                    raise ParameterError(f"'{name}' holds more than {max_files} images")
                destination = resolve_inside(staging, relative)  # belt and braces after the checks above
                destination.parent.mkdir(parents=True, exist_ok=True)
                if destination.exists():
                    raise ParameterError(f"'{name}' holds '{relative}' twice")
                with archive.open(info) as member, open(destination, "xb") as out:
                    while block := member.read(1 << 20):
                        written += len(block)
                        if written > max_bytes:
                            raise ParameterError(f"'{name}' unpacks to more than {_size(max_bytes)} of images")
                        out.write(block)
        if count == 0:
            raise ParameterError(f"'{name}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        entries = list(staging.iterdir())
        # A ZIP of one folder: that folder is the dataset.
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        try:
            root.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent upload of the same archive
                raise
    except (zipfile.BadZipFile, NotImplementedError, EOFError) as exc:
        raise ParameterError(f"'{name}' is a damaged or unsupported ZIP archive ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return UPLOAD_PREFIX + folder_name
