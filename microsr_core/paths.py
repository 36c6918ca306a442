"""MicroSR's own folders, and the one check that keeps user strings inside them.

- home: ``$MICROSR_HOME`` or ``<project>/.microsr`` (git-ignored): job store, job folders,
  promoted and imported models, unpacked uploads.
- data root: ``$MICROSR_DATA_ROOT`` or ``<project>/../shared/data``: folders training jobs may
  read.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ParameterError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home_dir() -> Path:
    """MicroSR's writable home folder (created on first use)."""
    path = Path(os.environ.get("MICROSR_HOME", PROJECT_ROOT / ".microsr")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def promoted_models_dir() -> Path:
    """Where finished training jobs publish models that become selectable methods."""
    return home_dir() / "models"


def imports_dir() -> Path:
    """Where imported models (``import@<name>``) keep their weights and manifest."""
    return home_dir() / "imports"


def data_root() -> Path:
    """The only folder tree training jobs may read datasets from."""
    return Path(os.environ.get("MICROSR_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "data")).resolve()


def resolve_inside(root: Path, user_path: str | Path) -> Path:
    """Resolve ``user_path`` relative to ``root``; refuse anything that leaves ``root``.

    Symbolic links are resolved first, so a link pointing outside is refused too.
    """
    root = Path(root).resolve()
    candidate = (root / user_path).resolve()
    if candidate != root and root not in candidate.parents:
        raise ParameterError(f"path '{user_path}' is outside the allowed folder {root}")
    return candidate
