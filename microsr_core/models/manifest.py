"""Where the shipped weights are and their manifest of model cards, without torch: reading the
cards (which method serves which scale, :mod:`.serving`) must not cost a process torch's memory
(a Dask client, the command line); loading the weights is :mod:`.weights`' job."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from ..paths import PROJECT_ROOT


def weights_dir() -> Path:
    """Folder of the shipped weights: ``$MICROSR_WEIGHTS``; else ``<project>/weights`` in a checkout;
    else, installed by ``pip install .``, the data package ``microsr_weights`` beside ``microsr_core``
    (pyproject.toml maps it to ``weights/``)."""
    checkout = PROJECT_ROOT / "weights"
    return Path(os.environ.get("MICROSR_WEIGHTS", checkout if checkout.is_dir() else PROJECT_ROOT / "microsr_weights"))


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """All model cards in ``folder/manifest.json`` (an empty dict when there is none)."""
    path = (folder or weights_dir()) / "manifest.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["models"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise WeightsError(f"{path}: not a valid weights manifest ({exc})") from exc
