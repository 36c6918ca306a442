"""Padding an input to the side multiple a U-Net's poolings need.

The networks pad inside ``forward`` too (any size works in PyTorch), but a traced graph fixes
the pad amounts of the size it was traced at, so callers that run an export
(:meth:`microsr_core.models.methods.common.NetworkMethod.forward`) pad first: the network's own pad is
then a no-op, in the graph and in PyTorch alike. Architectures that need it declare
``size_multiple`` and ``pad_mode``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> torch.Tensor:
    """``x`` (N, C, H, W) padded at the bottom and right to sides that are multiples of ``multiple``.

    ``mode`` is ``replicate`` or ``reflect``; reflection needs a pad smaller than the side, so a
    tiny input falls back to replication.
    """
    height, width = x.shape[-2:]
    pad_bottom, pad_right = -height % multiple, -width % multiple
    if not (pad_bottom or pad_right):
        return x
    if mode == "reflect" and not (pad_bottom < height and pad_right < width):
        mode = "replicate"
    return F.pad(x, (0, pad_right, 0, pad_bottom), mode=mode)
