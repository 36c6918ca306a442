"""Shared machinery of the methods that super-resolve with a network from the weights manifest."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..color import rgb_to_ycbcr, ycbcr_to_rgb
from ..degrade import bicubic_upscale
from ..paths import promoted_models_dir
from ..precision import image_convs_in_fp32
from ..registry import SRMethod
from ..runtime import cpu_runtime
from ..weights import build_model


class NetworkMethod(SRMethod):
    """A method run by one network: the shipped ``weights`` entry, or the promoted ``model``.

    The network sits on ``device`` in inference layout (channels-last), with the convolutions
    that read the image kept in float32 (:func:`~microsr_core.precision.image_convs_in_fp32`);
    :func:`~microsr_core.inference.upscale` runs it under the chosen precision's autocast. On
    the CPU, :meth:`forward` runs it in OpenVINO where :func:`~microsr_core.runtime.cpu_runtime`
    provides it (``backend`` says which). Its model card names the scales it serves.
    """

    runs_network = True

    def __init__(self, device: torch.device, model: str | None = None):
        super().__init__(device, model)
        if model is None:
            net, self.card = build_model(self.weights)
        else:
            net, self.card = build_model(model, promoted_models_dir())
        self.net = image_convs_in_fp32(net.to(device).to(memory_format=torch.channels_last))
        self.scales = tuple(self.card["scales"])
        if device.type == "cuda":
            # Tiles come in a few fixed sizes, so cuDNN's per-shape autotuning pays off.
            torch.backends.cudnn.benchmark = True
        self.runtime = cpu_runtime(self.net, self.card["sha256"]) if device.type == "cpu" else None
        self.backend = "pytorch" if self.runtime is None else "openvino"

    def forward(self, x: torch.Tensor):
        """The network's output for ``x`` (same structure in either runtime)."""
        return self.net(x) if self.runtime is None else self.runtime(x)

    def margin(self, scale: int) -> int:
        # Receptive radius in output pixels, brought back to LR pixels, plus the bicubic support.
        return math.ceil(self.net.receptive_radius / scale) + 3


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
