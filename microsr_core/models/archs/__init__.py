"""Network architectures (``torch.nn.Module``), kept apart from I/O, methods and training.

Each architecture is registered by class name (:mod:`.registry`) so a model card can name it
and its keyword arguments, and :func:`build_architecture` can rebuild it.
"""

from __future__ import annotations

import torch

from . import microgan, prior, vdsr  # noqa: F401  (importing registers them)
from .registry import ARCHITECTURES


def build_architecture(name: str, **kwargs) -> torch.nn.Module:
    """Instantiate the architecture registered as ``name`` with keyword arguments."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown architecture '{name}' (have: {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[name](**kwargs)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
