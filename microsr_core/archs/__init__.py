"""Network architectures (``torch.nn.Module``), kept apart from I/O, methods and training.

Each architecture is registered by class name so a model card can name it and its keyword
arguments, and :func:`build_architecture` can rebuild it.
"""

from __future__ import annotations

import torch

_ARCHITECTURES: dict[str, type[torch.nn.Module]] = {}


def register_architecture(cls: type[torch.nn.Module]) -> type[torch.nn.Module]:
    """Class decorator adding an architecture under its class name (duplicates refused)."""
    if cls.__name__ in _ARCHITECTURES:
        raise ValueError(f"architecture '{cls.__name__}' is registered twice")
    _ARCHITECTURES[cls.__name__] = cls
    return cls


def build_architecture(name: str, **kwargs) -> torch.nn.Module:
    """Instantiate the architecture registered as ``name`` with keyword arguments."""
    from . import microgan, prior, vdsr  # noqa: F401  (importing registers)

    if name not in _ARCHITECTURES:
        raise KeyError(f"unknown architecture '{name}' (have: {', '.join(_ARCHITECTURES)})")
    return _ARCHITECTURES[name](**kwargs)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
