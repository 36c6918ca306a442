"""Image folders and the fixed train/validation split used by every trainer and report."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ParameterError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Raises :class:`ParameterError` if the folder does not exist or holds no images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ParameterError(f"{folder}: holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def is_validation(path: Path, fraction: float = 0.1) -> bool:
    """Whether ``path`` belongs to the held-out split.

    Decided by a hash of the file name alone, so the split is the same on every machine, does
    not depend on which other files are present, and never changes when a folder grows.
    """
    digest = hashlib.sha256(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split(files: list[Path], fraction: float = 0.1) -> tuple[list[Path], list[Path]]:
    """(train, validation) lists by :func:`is_validation`."""
    train = [f for f in files if not is_validation(f, fraction)]
    val = [f for f in files if is_validation(f, fraction)]
    if not train or not val:
        raise ParameterError(f"cannot split {len(files)} images into train and validation sets")
    return train, val
