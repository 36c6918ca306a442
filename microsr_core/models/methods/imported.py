"""Imported models (``import@<name>``): SR networks trained elsewhere, added with
``python -m microsr_core models add`` or on the Models page (:mod:`microsr_core.models.imports`).

Each has one card in ``$MICROSR_HOME/imports/manifest.json`` (``lr_kind: "any"``: what LR it was
trained on is unknown). The network comes from spandrel (``.safetensors``/``.pth``) or OpenVINO
(``.onnx``, :mod:`microsr_core.models.model_files`) instead of an architecture of
:mod:`microsr_core.models.archs`; the rest is :class:`NetworkMethod`'s: tiled, timed, in the precision
policy's dtype. A network takes the LR image itself (not a bicubic upscale), RGB or, for a
one-channel model, Y with bicubic Cb/Cr. Each tile is padded to the card's size requirements
and its output cropped back by :meth:`NetworkMethod.forward` (the one size rule of
:class:`~microsr_core.models.archs.padding.SizeRule`); the tile margin is the network's reach,
measured from its response to an impulse. Below the network's own scale (the card's
``native_scale``) the output is resized down by antialiased bicubic (MATLAB's ``imresize``,
:func:`~microsr_core.imaging.degrade.imresize`), as Real-ESRGAN's ``--outscale`` does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...imaging.color import rgb_to_y
from ...imaging.degrade import imresize
from ...errors import WeightsError
from ..model_files import load_network
from ..network_input import upscale_ycbcr
from ...paths import imports_dir
from ..runtime import OpenVINOModel
from ..serving import DEFAULT_KIND, IMPORTED, ServedWeights, native_scale
from .base import TileOutput, register
from ..archs.padding import SizeRule
from .common import NetworkMethod, merge_y

#: Side (LR px) of the grey probe image whose response to a centre impulse measures an imported
#: network's reach; reaches beyond half of it are cut there (a global-attention network's tiles
#: then overlap by that much, which :mod:`microsr_core.models.inference` makes tiles at least 3x of).
IMPULSE_SIDE = 96
#: A response below this share of the impulse's own output change counts as no reach.
IMPULSE_THRESHOLD = 1e-3
#: Studio-swing Y (:mod:`microsr_core.imaging.color`) is ``Y_BLACK + Y_SPAN · g`` for a grey pixel of value g:
#: a grayscale model gets g, the range it was trained on.
Y_BLACK, Y_SPAN = 16 / 255, 219 / 255


@register
class ImportedMethod(NetworkMethod):
    name = IMPORTED
    title = "Imported model"
    model_only = True

    def __init__(self, device: torch.device, model: str | None = None, lr_kind: str = DEFAULT_KIND,
                 weights: Sequence[ServedWeights] | None = None, backend: str | None = None):
        super().__init__(device, model, lr_kind, weights, backend)
        self._margins: dict[int, int] = {}
        if all(isinstance(net, OpenVINOModel) for net in self.nets.values()):
            self.device = torch.device("cpu")  # OpenVINO runs ONNX files on the CPU whatever device was asked for

    def _load(self, row: ServedWeights):
        network = load_network(dict(row.card), imports_dir())
        return network if isinstance(network, OpenVINOModel) else self._prepare(network)

    def _runtime(self, net, rows):
        return net if isinstance(net, OpenVINOModel) else super()._runtime(net, rows)

    def size_rule(self, scale: int) -> SizeRule:
        return SizeRule.of_card(self.table[scale].card)

    def native(self, scale: int) -> int:
        """The network's own scale, which serves ``scale`` (larger where the output is resized down)."""
        return native_scale(self.table[scale].card)

    def margin(self, scale: int) -> int:
        """LR pixels of context a tile needs: the reach measured from the network's response to an
        impulse (once per network), not a guess per architecture; one more where the output is
        resized down (the bicubic kernel reaches under 1 LR px at any such ratio)."""
        if scale not in self._margins:
            self._margins[scale] = self._impulse_reach(scale) + 1 + (self.native(scale) != scale)
        return self._margins[scale]

    def _impulse_reach(self, scale: int) -> int:
        """How far (LR px) from a pixel the network's output changes when that pixel does."""
        side, channels, native = IMPULSE_SIDE, self.table[scale].card["input_channels"], self.native(scale)
        flat = torch.full((1, channels, side, side), 0.5)
        bumped = flat.clone()
        bumped[..., side // 2, side // 2] += 0.25
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):  # fp32: bf16 rounding would read as reach
            change = (self._run(bumped, scale) - self._run(flat, scale)).abs().amax(dim=(0, 1))
        rows, cols = torch.nonzero(change > IMPULSE_THRESHOLD * change.max().clamp_min(1e-12), as_tuple=True)
        reach = max((rows // native - side // 2).abs().max().item(), (cols // native - side // 2).abs().max().item())  # in LR pixels
        return min(side // 2, int(reach))

    def _run(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The output of the network serving ``scale`` for ``x`` (1, C, H, W), at its own scale;
        refused unless it is one image that many times larger."""
        native = self.native(scale)
        out = self.forward(x.to(self.device).contiguous(memory_format=torch.channels_last), scale)
        expected = (1, x.shape[1], x.shape[2] * native, x.shape[3] * native)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise WeightsError(f"imported model '{self.model}' returned {got} for a {tuple(x.shape)} input, not x{native} {expected}")
        return out.float()

    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        gray = self.table[scale].card["input_channels"] == 1
        image = ((rgb_to_y(lr) - Y_BLACK) / Y_SPAN)[:, :, None] if gray else lr
        native = self.native(scale)
        out = self._run(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None], scale)
        if gray:
            sr = merge_y(out.float() * Y_SPAN + Y_BLACK, upscale_ycbcr(lr, native))
        else:
            sr = np.ascontiguousarray(out[0].float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0))
        if native == scale:
            return TileOutput(sr)
        resized = imresize(sr, output_shape=(lr.shape[0] * scale, lr.shape[1] * scale))
        return TileOutput(np.clip(resized, 0.0, 1.0).astype(np.float32))
