"""Image folders and the fixed train / validation / test split used by every trainer and report.

Three parts, by a hash of the file name: ``test`` (the first ``fraction``) is what results are
reported on and no choice ever looks at; ``val`` (the next ``fraction``) is what trainers
validate on and recipes and checkpoints are selected by; ``train`` is the rest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import ParameterError

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


#: Where a dataset keeps the masks of its images (trainers that need them: the geometry prior).
MASKS_FOLDER = "masks"


def dataset_layout(folder: str | Path) -> tuple[Path, Path | None]:
    """(images folder, masks folder or None) of a dataset folder, the one layout rule of trainers,
    jobs and the app: the images are the folder's ``images/`` subfolder when it has one, else the
    folder itself; the masks are ``<folder>/masks``, or ``../masks`` beside a folder named
    ``images`` (as in ``shared/data/wbc_seg/dataset1``)."""
    folder = Path(folder)
    images = folder / "images" if (folder / "images").is_dir() else folder
    candidates = [folder / MASKS_FOLDER]
    if images == folder and folder.name == "images":
        candidates.append(folder.parent / MASKS_FOLDER)
    return images, next((c for c in candidates if c.is_dir()), None)


def folder_list(text: str | None) -> list[Path]:
    """The folders of a comma-separated list (a trainer's ``data`` may name several)."""
    return [Path(part.strip()) for part in (text or "").split(",") if part.strip()]


def interleave(groups: list[list]) -> list:
    """Round-robin over ``groups``, so that a prefix of the result draws from every group."""
    return [group[i] for i in range(max(map(len, groups), default=0)) for group in groups if i < len(group)]


SPLITS = ("train", "val", "test")


def _hash_position(path: Path) -> float:
    """A number in [0, 1) from the file name alone (same on every machine, whatever else the folder holds)."""
    digest = hashlib.sha256(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def split_of(path: Path, fraction: float = 0.1) -> str:
    """``test``, ``val`` or ``train``: the part of the split that ``path`` belongs to.

    Decided by a hash of the file name alone, so the split is the same on every machine, does
    not depend on which other files are present, and never changes when a folder grows.
    """
    position = _hash_position(path)
    return "test" if position < fraction else "val" if position < 2 * fraction else "train"


def split(files: list[Path], fraction: float = 0.1) -> tuple[list[Path], list[Path]]:
    """(train, validation) lists by :func:`split_of`; the test part is in neither."""
    train = [f for f in files if split_of(f, fraction) == "train"]
    val = [f for f in files if split_of(f, fraction) == "val"]
    if not train or not val:
        raise ParameterError(f"cannot split {len(files)} images into train and validation sets")
    return train, val
