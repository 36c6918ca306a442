"""Choosing the torch device: ``auto`` means CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from ..errors import ParameterError
from .choices import DEVICE_CHOICES


def available_devices() -> list[str]:
    """Devices this process can use, CPU first (``cuda`` only when a GPU is visible)."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def resolve_device(choice: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA if available, else CPU; ``cuda`` without a GPU is a clear error."""
    if isinstance(choice, torch.device):
        return choice
    choice = (choice or "auto").lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError("device 'cuda' requested but no CUDA GPU is available (use 'cpu' or 'auto')")
        return torch.device(choice)
    if choice == "cpu":
        return torch.device("cpu")
    raise ParameterError(f"unknown device '{choice}' (choose from {', '.join(DEVICE_CHOICES)})")
