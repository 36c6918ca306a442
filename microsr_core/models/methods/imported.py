"""Imported models (``import@<name>``): SR networks trained elsewhere, added with
``python -m microsr_core models add`` or on the Models page (:mod:`microsr_core.models.imports`).

Each has one card in ``$MICROSR_HOME/imports/manifest.json`` (``lr_kind: "any"``: what LR it was
trained on is unknown). The network comes from spandrel (``.safetensors``/``.pth``) or OpenVINO
(``.onnx``, :mod:`microsr_core.models.model_files`) instead of an architecture of
:mod:`microsr_core.models.archs`; the rest is :class:`NetworkMethod`'s: tiled, timed, in the precision
policy's dtype. A network takes the LR image itself (not a bicubic upscale), RGB or, for a
one-channel model, Y with bicubic Cb/Cr. Each tile is padded (mirrored) to the card's size
requirements and its output cropped back.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...imaging.color import rgb_to_y
from ...errors import WeightsError
from ..model_files import load_network
from ..network_input import upscale_ycbcr
from ...paths import imports_dir
from ..runtime import OpenVINOModel
from ..serving import DEFAULT_KIND, IMPORTED, ServedWeights
from .base import TileOutput, register
from .common import NetworkMethod, merge_y

#: LR pixels of context per tile side: a guess at the receptive radius of common SR networks
#: (ESRGAN's is larger, but its weight far out is negligible); twice that where spandrel
#: discourages tiling (window attention), so the seams fall further from the kept pixels.
MARGIN = 16
MARGIN_TILING_DISCOURAGED = 32
#: Studio-swing Y (:mod:`microsr_core.imaging.color`) is ``Y_BLACK + Y_SPAN · g`` for a grey pixel of value g:
#: a grayscale model gets g, the range it was trained on.
Y_BLACK, Y_SPAN = 16 / 255, 219 / 255


def padded_size(height: int, width: int, card) -> tuple[int, int]:
    """The smallest (height, width) >= the given one that meets the card's size requirements."""
    multiple = card.get("size_multiple", 1)
    height, width = (-(-max(side, card.get("size_minimum", 0)) // multiple) * multiple for side in (height, width))
    return (max(height, width),) * 2 if card.get("size_square") else (height, width)


@register
class ImportedMethod(NetworkMethod):
    name = IMPORTED
    title = "Imported model"
    model_only = True

    def __init__(self, device: torch.device, model: str | None = None, lr_kind: str = DEFAULT_KIND,
                 weights: Sequence[ServedWeights] | None = None, backend: str | None = None):
        super().__init__(device, model, lr_kind, weights, backend)
        if all(isinstance(net, OpenVINOModel) for net in self.nets.values()):
            self.device = torch.device("cpu")  # OpenVINO runs ONNX files on the CPU whatever device was asked for

    def _load(self, row: ServedWeights):
        network = load_network(dict(row.card), imports_dir())
        return network if isinstance(network, OpenVINOModel) else self._prepare(network)

    def _runtime(self, net, sha256: str):
        return net if isinstance(net, OpenVINOModel) else super()._runtime(net, sha256)

    def margin(self, scale: int) -> int:
        return MARGIN_TILING_DISCOURAGED if self.table[scale].card.get("tiling") == "discouraged" else MARGIN

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        card = self.table[scale].card
        gray = card["input_channels"] == 1
        image = ((rgb_to_y(lr) - Y_BLACK) / Y_SPAN)[:, :, None] if gray else lr
        height, width = lr.shape[:2]
        padded_height, padded_width = padded_size(height, width, card)
        image = np.pad(image, ((0, padded_height - height), (0, padded_width - width), (0, 0)), mode="symmetric")
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
        out = self.forward(x.to(self.device).contiguous(memory_format=torch.channels_last), scale)
        expected = (1, image.shape[2], padded_height * scale, padded_width * scale)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise WeightsError(f"imported model '{self.model}' returned {got} for a {tuple(x.shape)} input, not x{scale} {expected}")
        out = out[:, :, : height * scale, : width * scale]
        if gray:
            return TileOutput(merge_y(out.float() * Y_SPAN + Y_BLACK, upscale_ycbcr(lr, scale)))
        return TileOutput(np.ascontiguousarray(out[0].float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)))
