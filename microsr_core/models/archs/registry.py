"""The architectures by class name, so that a model card can name one with its keyword arguments."""

from __future__ import annotations

import torch

ARCHITECTURES: dict[str, type[torch.nn.Module]] = {}


def register_architecture(cls: type[torch.nn.Module]) -> type[torch.nn.Module]:
    """Class decorator adding an architecture under its class name (duplicates refused)."""
    if cls.__name__ in ARCHITECTURES:
        raise ValueError(f"architecture '{cls.__name__}' is registered twice")
    ARCHITECTURES[cls.__name__] = cls
    return cls
