"""The one size rule of every network, own or imported: minimum side, side multiple, square.

Own U-Nets need sides that are multiples of their pooling stride (``size_multiple``); imported
networks declare what spandrel reports (``size_requirements``: minimum, multiple_of, square).
Both are a :class:`SizeRule`, and :meth:`~microsr_core.models.methods.common.NetworkMethod.forward`
pads every input to it and crops every output back, in one place. The networks pad inside their
own ``forward`` too (any size works in PyTorch), but a traced graph fixes the pad amounts of the
size it was traced at, so callers that run an export pad first: the network's own pad is then a
no-op, in the graph and in PyTorch alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SizeRule:
    """What input sides a network takes (spandrel's ``SizeRequirements``, plus how to pad)."""

    minimum: int = 0
    multiple: int = 1
    square: bool = False
    #: ``replicate`` or ``reflect`` (a pad at least the side falls back to replication).
    pad_mode: str = "replicate"

    @classmethod
    def of_network(cls, net: torch.nn.Module) -> "SizeRule":
        """The rule an own architecture declares (``size_multiple``, ``pad_mode``)."""
        return cls(multiple=getattr(net, "size_multiple", 1), pad_mode=getattr(net, "pad_mode", "replicate"))

    @classmethod
    def of_card(cls, card: Mapping[str, Any]) -> "SizeRule":
        """The rule an imported model's card records (``size_minimum``, ``size_multiple``, ``size_square``)."""
        return cls(card.get("size_minimum", 0), card.get("size_multiple", 1), bool(card.get("size_square")), "reflect")

    def padded_shape(self, height: int, width: int) -> tuple[int, int]:
        """The smallest (height, width) >= the given one that meets the rule."""
        height, width = (-(-max(side, self.minimum) // self.multiple) * self.multiple for side in (height, width))
        return (max(height, width),) * 2 if self.square else (height, width)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, C, H, W) padded at the bottom and right to :meth:`padded_shape`."""
        height, width = x.shape[-2:]
        padded_height, padded_width = self.padded_shape(height, width)
        pad_bottom, pad_right = padded_height - height, padded_width - width
        if not (pad_bottom or pad_right):
            return x
        mode = self.pad_mode if pad_bottom < height and pad_right < width else "replicate"
        return F.pad(x, (0, pad_right, 0, pad_bottom), mode=mode)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> torch.Tensor:
    """``x`` (N, C, H, W) padded at the bottom and right to sides that are multiples of ``multiple``
    (what a U-Net's own ``forward`` does; :class:`SizeRule` for the general rule)."""
    return SizeRule(multiple=multiple, pad_mode=mode).pad(x)
