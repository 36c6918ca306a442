"""Shared machinery of the methods that super-resolve with a network from the weights manifest."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..color import ycbcr_to_rgb
from ..paths import promoted_models_dir
from ..precision import image_convs_in_fp32
from .base import SRMethod
from ..runtime import cpu_runtime
from ..weights import build_model, read_manifest


class NetworkMethod(SRMethod):
    """A method run by networks from a weights manifest: the shipped ``weights`` entry (and the
    single-scale entries of ``scale_weights`` that are shipped), or the promoted ``model``.

    The networks sit on ``device`` in inference layout (channels-last), with the convolutions
    that read the image kept in float32 (:func:`~microsr_core.precision.image_convs_in_fp32`);
    :func:`~microsr_core.inference.upscale` runs them under the chosen precision's autocast. On
    the CPU, :meth:`forward` runs them in OpenVINO where :func:`~microsr_core.runtime.cpu_runtime`
    provides it (``backend`` says which). The model cards name the scales they serve, and a
    single-scale model serves its scale instead of the main one.
    """

    runs_network = True
    #: {scale: manifest entry} of models that take over their scale where shipped (one entry may serve several).
    scale_weights: dict[int, str] = {}

    def __init__(self, device: torch.device, model: str | None = None):
        super().__init__(device, model)
        if model is None:
            net, self.card = build_model(self.weights)
        else:
            net, self.card = build_model(model, promoted_models_dir())
        self.net = self._prepare(net)
        self.nets = {scale: self.net for scale in self.card["scales"]}
        #: The card of the network serving each scale.
        self.cards = {scale: self.card for scale in self.card["scales"]}
        shipped = read_manifest() if model is None else {}
        loaded = {}  # an entry serving several scales is loaded once
        for scale, entry in self.shipped_scale_weights(shipped).items():
            if entry not in loaded:
                net, card = build_model(entry)
                loaded[entry] = self._prepare(net), card
            self.nets[scale], self.cards[scale] = loaded[entry]
        self.scales = tuple(sorted(self.nets))
        if device.type == "cuda":
            # Tiles come in a few fixed sizes, so cuDNN's per-shape autotuning pays off.
            torch.backends.cudnn.benchmark = True
        # One OpenVINO network per distinct PyTorch network (a multi-scale one serves several scales).
        runtimes = {}
        for scale, net in self.nets.items():
            if id(net) not in runtimes:
                runtimes[id(net)] = cpu_runtime(net, self.cards[scale]["sha256"]) if device.type == "cpu" else None
        self.runtime = {scale: runtimes[id(net)] for scale, net in self.nets.items()}
        self.backend = "openvino" if any(r is not None for r in self.runtime.values()) else "pytorch"

    @classmethod
    def shipped_scale_weights(cls, shipped: dict[str, dict]) -> dict[int, str]:
        """The entries of ``scale_weights`` that the manifest ``shipped`` holds: the scales they take over."""
        return {scale: entry for scale, entry in cls.scale_weights.items() if entry in shipped}

    def _prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        return image_convs_in_fp32(net.to(self.device).to(memory_format=torch.channels_last))

    def network(self, scale: int) -> torch.nn.Module:
        """The (PyTorch) network serving ``scale``."""
        return self.nets[scale]

    def forward(self, x: torch.Tensor, scale: int):
        """The output for ``x`` of the network serving ``scale`` (same structure in either runtime)."""
        runtime = self.runtime.get(scale)
        return self.nets[scale](x) if runtime is None else runtime(x)

    def margin(self, scale: int) -> int:
        # Receptive radius in output pixels, brought back to LR pixels, plus the bicubic support.
        return math.ceil(self.network(scale).receptive_radius / scale) + 3


def to_tensor(plane: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W) float32 -> (1, 1, H, W) on ``device``, channels-last."""
    tensor = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    return tensor.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)


def merge_y(y: torch.Tensor, ycbcr_up: np.ndarray) -> np.ndarray:
    """Put a network's Y (1, 1, H, W) back with bicubic Cb/Cr and return clipped RGB."""
    ycbcr = ycbcr_up.copy()
    ycbcr[:, :, 0] = y[0, 0].float().cpu().numpy()
    return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0)
