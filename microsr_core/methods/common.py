"""Shared machinery of the methods that super-resolve the Y channel with a network."""

from __future__ import annotations

import numpy as np
import torch

from ..color import rgb_to_ycbcr, ycbcr_to_rgb
from ..degrade import bicubic_upscale
from ..paths import promoted_models_dir
from ..weights import build_model


def load_network(weights: str, device: torch.device, promoted: str | None = None) -> tuple[torch.nn.Module, dict]:
    """Build a network on ``device`` in inference layout (channels-last).

    ``weights`` names the shipped manifest entry; ``promoted`` (if given) names a model in
    :func:`~microsr_core.paths.promoted_models_dir` to load instead.
    """
    if promoted is None:
        model, card = build_model(weights)
    else:
        model, card = build_model(promoted, promoted_models_dir())
    model = model.to(device).to(memory_format=torch.channels_last)
    return model, card


def upscale_ycbcr(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic-upsampled YCbCr of an RGB LR tile: the network input (Y) and the colour (Cb, Cr)."""
    return bicubic_upscale(rgb_to_ycbcr(lr), scale)


def to_tensor(plane: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W) float32 -> (1, 1, H, W) on ``device``, channels-last."""
    tensor = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    return tensor.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)


def merge_y(y: torch.Tensor, ycbcr_up: np.ndarray) -> np.ndarray:
    """Put a network's Y (1, 1, H, W) back with bicubic Cb/Cr and return clipped RGB."""
    ycbcr = ycbcr_up.copy()
    ycbcr[:, :, 0] = y[0, 0].float().cpu().numpy()
    return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0)
