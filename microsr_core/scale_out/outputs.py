"""Writing outputs so that a killed or failed run can be resumed: a full disk is one clear
error, and each finished piece is marked only after it is complete."""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import StorageError

#: errno values that mean the output cannot be written at all (full disk, quota, read-only, denied).
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


#: What a run's :class:`StorageError` advises: its finished pieces stay and a resume skips them.
RESUME = "what finished is kept: free space and rerun with --resume"


@contextmanager
def writing(target: str | Path, advice: str = RESUME) -> Iterator[None]:
    """Turn an OS error that no retry can fix (disk full, quota, read-only, permission) while
    writing ``target`` into a one-line :class:`StorageError` that ends with ``advice`` (by
    default: the partial output is kept, resume)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
        raise StorageError(f"cannot write {target}: {reason}; {advice}") from None


def done_marker(root: str | Path, level: int, row: int, col: int) -> Path:
    """The file that says output chunk (``row``, ``col``) of pyramid ``level`` is complete
    (written after the chunk, so a chunk cut short by a kill is recomputed on resume)."""
    return Path(root) / ".microsr-done" / str(level) / f"{row}.{col}"


def mark_done(marker: Path) -> None:
    with writing(marker):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
