"""Uploaded ZIPs of images, unpacked safely into MicroSR's home: for training datasets
(:mod:`microsr_core.jobs.datasets`) and batch inputs (:mod:`microsr_core.scale_out.batch`).

An unpacked archive is named ``"upload:<folder>"``: ``<home>/uploads/<folder>``, the folder
named by the archive's sha256, so the same archive unpacks once.
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
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .errors import ParameterError
from .imaging.data import IMAGE_SUFFIXES
from .paths import home_dir, resolve_inside

UPLOAD_PREFIX = "upload:"
#: Limits for uploaded ZIPs (uncompressed bytes in all, members extracted).
MAX_UPLOAD_BYTES = int(os.environ.get("MICROSR_MAX_UPLOAD_BYTES", 2 << 30))
MAX_UPLOAD_FILES = int(os.environ.get("MICROSR_MAX_UPLOAD_FILES", 20000))


def uploads_dir() -> Path:
    """Where uploaded ZIPs are unpacked."""
    return home_dir() / "uploads"


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
