"""Geometry-prior SR (Hua et al. 2020): a U-Net parsing map guides a residual SR network on Y.

``prior`` returns, besides the SR image, ``maps["parsing"]``: float32 (H·s, W·s, 3)
probabilities of nucleus, cytoplasm and background (:mod:`microsr_core.imaging.parsing`; per-class
areas with :func:`class_areas`). ``prior_none`` is the paper's ablation without the prior
branch (same SR network, no parsing map), shipped so the two can be compared by ``evaluate``.

Tiling: the margin is the network's whole receptive radius brought back to LR pixels (the
quarter-width U-Net sees ±122 pixels of the upsampled image with four poolings; at LR resolution,
:class:`~microsr_core.models.archs.prior.PriorLRVDSR`, ±122 LR pixels, so a 640×480 field is one tile).
Tiled results then match the untiled ones up to the phase of the 2×2 poolings, which differs
between tiles; the tapered blending hides that.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from ...errors import WeightsError
from ...imaging.parsing import CLASSES, class_areas
from ..serving import DEFAULT_KIND, ServedWeights
from ..network_input import upscale_ycbcr
from .base import TileOutput, register
from .common import NetworkMethod, merge_y, to_tensor

PAPER = "003_4b1e96ef8e7f4ac4.txt (Hua et al. 2020)"

__all__ = ["PriorMethod", "NonePriorMethod", "CLASSES", "class_areas"]


@register
class PriorMethod(NetworkMethod):
    name = "prior"
    title = "Geometry prior (U-Net parsing map + SR network)"
    paper = PAPER
    scales = (2, 4, 8)
    trainer = "prior"
    #: Channel names of ``maps["parsing"]``.
    parsing_classes = CLASSES
    #: Whether the weights must contain the prior branch.
    with_prior = True

    def __init__(self, device: torch.device, model: str | None = None, lr_kind: str = DEFAULT_KIND,
                 weights: Sequence[ServedWeights] | None = None, backend: str | None = None,
                 tensors: Mapping[str, torch.Tensor] | None = None):
        super().__init__(device, model, lr_kind, weights, backend, tensors)
        for scale, net in self.nets.items():
            if getattr(net, "prior", None) is not self.with_prior:
                row = self.table[scale]
                which = "with" if self.with_prior else "without"
                raise WeightsError(
                    f"weights '{row.entry}' ({row.card.get('architecture')}) are not a geometry-prior network "
                    f"{which} the prior branch, which method '{self.name}' needs"
                )

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        ycbcr = upscale_ycbcr(lr, scale)
        out = self.forward(to_tensor(ycbcr[:, :, 0], self.device), scale)
        maps = {}
        if out.parsing_logits is not None:
            probabilities = torch.softmax(out.parsing_logits.float(), dim=1)[0]
            maps["parsing"] = np.ascontiguousarray(probabilities.permute(1, 2, 0).cpu().numpy(), dtype=np.float32)
        return TileOutput(merge_y(out.sr, ycbcr), maps)


@register
class NonePriorMethod(PriorMethod):
    name = "prior_none"
    title = "Geometry-prior SR network without its prior (ablation)"
    parsing_classes = ()
    with_prior = False
