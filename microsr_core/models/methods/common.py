"""Shared machinery of the methods that super-resolve with a network from the weights manifest."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils._pytree import tree_map

from ..archs.padding import SizeRule
from ...imaging.color import ycbcr_to_rgb
from ...errors import WeightsError
from ..precision import image_convs_in_fp32, resolve_precision
from ..runtime import backend_choice, cpu_runtime
from ..serving import DEFAULT_KIND, ServedWeights, folder_of, serving_table
from ..weights import build_model, build_network
from .base import SRMethod


class NetworkMethod(SRMethod):
    """A method run by networks from model cards: for its LR kind, every row of
    :func:`~microsr_core.models.serving.serving_table` (shipped cards, or the promoted or imported ``model``'s).

    One network is loaded per distinct weights file (a multi-scale card serves several scales).
    The networks sit on ``device`` in inference layout (channels-last), with the convolutions
    that read the image kept in float32 (:func:`~microsr_core.models.precision.image_convs_in_fp32`);
    :func:`~microsr_core.models.inference.upscale` runs them under the chosen precision's autocast. On
    the CPU, :meth:`forward` runs them in OpenVINO where :func:`~microsr_core.models.runtime.cpu_runtime`
    provides it (``backend`` says which).
    """

    runs_network = True

    def __init__(self, device: torch.device, model: str | None = None, lr_kind: str = DEFAULT_KIND,
                 weights: Sequence[ServedWeights] | None = None, backend: str | None = None,
                 tensors: Mapping[str, torch.Tensor] | None = None):
        """``weights`` pins the rows to load instead of what serving resolves (to measure one card);
        ``backend`` the CPU runtime (:data:`~microsr_core.models.runtime.BACKEND_CHOICES`; None: the
        environment's choice); ``tensors`` the state dict of the one card in ``weights``, loaded
        instead of its file (to measure weights before they are stored, or as they would be stored)."""
        super().__init__(device, model, lr_kind)
        self.backend_choice = backend
        self.tensors = tensors
        rows = list(weights) if weights is not None else [row for row in serving_table(self.full_name) if row.lr_kind == self.lr_kind]
        if not rows:
            raise WeightsError(f"no weights for '{self.full_name}' with {self.lr_kind} LR are installed")
        #: The weights serving each scale.
        self.table = {row.scale: row for row in rows}
        nets = {}
        for row in rows:
            if row.sha256 not in nets:
                nets[row.sha256] = self._load(row)
        self.nets = {row.scale: nets[row.sha256] for row in rows}
        self.scales = tuple(sorted(self.nets))
        if device.type == "cuda":
            # Tiles come in a few fixed sizes, so cuDNN's per-shape autotuning pays off.
            torch.backends.cudnn.benchmark = True
        runtimes = {sha: self._runtime(net, [row for row in rows if row.sha256 == sha]) for sha, net in nets.items()}
        self.runtime = {row.scale: runtimes[row.sha256] for row in rows}
        self.backend = "openvino" if any(r is not None for r in self.runtime.values()) else "pytorch"

    def served(self, scale: int) -> ServedWeights:
        self.check_scale(scale)
        return self.table[scale]

    def _load(self, row: ServedWeights) -> torch.nn.Module:
        """The network of ``row``'s weights, ready for inference (built from the card's architecture)."""
        if self.tensors is not None:
            return self._prepare(build_network(row.entry, dict(row.card), dict(self.tensors)))
        net, card = build_model(row.entry, folder_of(row.source))
        if card["sha256"] != row.sha256:  # republished between resolving and loading
            raise WeightsError(f"weights '{row.entry}' changed while loading ({card['sha256'][:12]}…, not {row.sha256[:12]}…): try again")
        return self._prepare(net)

    def _runtime(self, net: torch.nn.Module, rows: list[ServedWeights]):
        """What runs ``net`` (the weights of ``rows``) instead of PyTorch: OpenVINO on the CPU where
        available, or None. A network that reads condition maps runs in PyTorch: the exported graph
        takes the image alone. So does one whose bf16 passes the guard in PyTorch only, where the
        backend is the automatic choice and auto precision runs bf16 on this CPU: PyTorch bf16 ran
        MicroGAN and the prior in 0.17 and 1.09 s where OpenVINO fp32 took 0.74 and 2.75 s (a 320x240 crop)."""
        if self.device.type != "cpu" or getattr(net, "conditions", 0):
            return None
        if (self.backend_choice or backend_choice()) == "auto" and resolve_precision("auto", self.device) == "bf16" and all(
                row.bf16_backends == ("pytorch",) for row in rows):
            return None
        return cpu_runtime(net, rows[0].sha256, self.backend_choice)

    def backend_at(self, scale: int) -> str:
        return "pytorch" if self.runtime.get(scale) is None else "openvino"

    def _prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        return image_convs_in_fp32(net.to(self.device).to(memory_format=torch.channels_last))

    def network(self, scale: int) -> torch.nn.Module:
        """The (PyTorch) network serving ``scale``."""
        return self.nets[scale]

    def reads_capture_maps(self, scale: int) -> bool:
        return scale in self.nets and bool(getattr(self.nets[scale], "conditions", 0))

    def size_rule(self, scale: int) -> SizeRule:
        """What input sides the network serving ``scale`` takes."""
        return SizeRule.of_network(self.nets[scale])

    def forward(self, x: torch.Tensor, scale: int, conditions: np.ndarray | None = None):
        """The output for ``x`` of the network serving ``scale`` (same structure in either runtime);
        ``conditions``, one value per condition map, for a network that reads them (PyTorch only).

        The one place inputs are padded to the network's :class:`SizeRule` and every output
        cropped back (by its own ratio to the input: 1 for networks on an upscaled image, the
        scale for those on the LR), so that an exported graph (traced at such a size) takes any tile.
        """
        net, runtime = self.nets[scale], self.runtime.get(scale)
        height, width = x.shape[-2:]
        padded = self.size_rule(scale).pad(x)
        if conditions is not None:
            out = net(padded, torch.from_numpy(np.asarray(conditions, dtype=np.float32))[None].to(x.device))
        else:
            out = net(padded) if runtime is None else runtime(padded)
        if padded is x:
            return out

        def crop(t):
            if not isinstance(t, torch.Tensor) or t.ndim < 2 or t.shape[-1] < padded.shape[-1]:
                return t
            ratio = t.shape[-1] // padded.shape[-1]
            return t[..., : height * ratio, : width * ratio]

        return tree_map(crop, out)

    def margin(self, scale: int) -> int:
        # Receptive radius in output pixels, brought back to LR pixels, plus the bicubic support.
        return math.ceil(self.network(scale).receptive_radius / scale) + 3

    def feature_stride(self, scale: int) -> int:
        return getattr(self.network(scale), "feature_stride", 1)


def to_tensor(plane: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W) float32 -> (1, 1, H, W) on ``device``, channels-last."""
    tensor = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    return tensor.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)


def merge_y(y: torch.Tensor, ycbcr_up: np.ndarray) -> np.ndarray:
    """Put a network's Y (1, 1, H, W) back with bicubic Cb/Cr and return clipped RGB."""
    ycbcr = ycbcr_up.copy()
    ycbcr[:, :, 0] = y[0, 0].float().cpu().numpy()
    return np.clip(ycbcr_to_rgb(ycbcr), 0.0, 1.0)
