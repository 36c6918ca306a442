"""The interface every SR method implements, and the decorator that registers one.

A method turns an LR image (the MicroSR image contract: float32 (H, W, 3) RGB in [0, 1]) into
an SR image ``scale`` times larger, plus optional per-pixel maps (for example the prior
network's parsing map). Tiling, device choice, timing and caching live in
:mod:`microsr_core.models.inference`, so a method only has to process one tile. Lookups by name are in
:mod:`microsr_core.models.registry`; registering reads nothing from disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import ParameterError
from ..serving import DEFAULT_KIND, ServedWeights, checked_kind, no_weights


@dataclass
class TileOutput:
    """What a method returns for one LR tile.

    ``sr`` is float32 (H·s, W·s, 3) in [0, 1]; ``maps`` holds extra float32 arrays of shape
    (H·s, W·s, C) that are tiled and blended exactly like ``sr``.
    """

    sr: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)


class SRMethod(ABC):
    """One super-resolution method bound to a device.

    Subclasses set the class attributes and implement :meth:`process`. Instances are created
    by :func:`create` and cached by :mod:`microsr_core.models.inference`, one per (name, device, LR kind).
    """

    #: Registry key, used on the command line and in the app.
    name: str = ""
    #: Human-readable name.
    title: str = ""
    #: The paper the method follows (a file in ``shared/papers``), or ``""``.
    paper: str = ""
    #: Integer scales the method supports.
    scales: tuple[int, ...] = (2, 3, 4)
    #: Key in :data:`microsr_core.train.TRAINERS` of the trainer that makes its weights, or ``""``.
    trainer: str = ""
    #: Whether :meth:`process` runs a torch network from model cards (:mod:`microsr_core.models.serving`),
    #: whose forward pass follows the precision policy (:mod:`microsr_core.models.precision`); methods
    #: without one need no weights and always compute in float32.
    runs_network: bool = False
    #: What computes it: ``numpy``, ``pytorch`` or ``openvino`` (network methods set it per instance).
    backend: str = "numpy"
    #: Whether the method exists only with a model, as ``name@model`` (imported models:
    #: ``import@esrgan``): the bare name is not listed and cannot be created.
    model_only: bool = False

    def __init__(self, device: torch.device, model: str | None = None, lr_kind: str = DEFAULT_KIND):
        self.device = device
        #: Promoted model (manifest entry in :func:`~microsr_core.paths.promoted_models_dir`)
        #: used instead of the shipped weights, or None.
        self.model = model
        #: The kind of LR image (:data:`~microsr_core.models.serving.LR_KINDS`) this instance serves.
        self.lr_kind = checked_kind(lr_kind)

    @property
    def full_name(self) -> str:
        """The name it was created by: ``vdsr``, ``vdsr@mine`` for a promoted model, ``import@esrgan`` for an imported one."""
        return self.name + (f"@{self.model}" if self.model else "")

    def served(self, scale: int) -> ServedWeights:
        """The weights that compute ``scale`` (a method without a network: source ``none``)."""
        self.check_scale(scale)
        return no_weights(self.full_name, scale, self.lr_kind)

    def backend_at(self, scale: int) -> str:
        """What computes the method at ``scale`` (:attr:`backend`; a network method may run one scale
        in PyTorch and another in OpenVINO)."""
        return self.backend

    @abstractmethod
    def margin(self, scale: int) -> int:
        """LR pixels of context each side of a tile needs for an exact (or seamless) result."""

    def reads_capture_maps(self, scale: int) -> bool:
        """Whether the network serving ``scale`` reads the capture maps (:mod:`~microsr_core.imaging.capture_maps`):
        then :meth:`process` takes their values as ``conditions``."""
        return False

    def feature_stride(self, scale: int) -> int:
        """Output pixels per feature pixel along a side of the network serving ``scale`` (1:
        its activations are as large as the output; ``scale``: it computes at LR resolution).
        Tiles of a network with a larger stride may be as much larger for the same memory."""
        return 1

    @abstractmethod
    def process(self, lr: np.ndarray, scale: int) -> TileOutput:
        """Super-resolve one LR tile (float32 (H, W, 3) in [0, 1]) by ``scale``."""

    def check_scale(self, scale: int) -> None:
        if scale not in self.scales:
            raise ParameterError(
                f"method '{self.name}' supports scales {', '.join(f'x{s}' for s in self.scales)} for {self.lr_kind} LR, not x{scale}"
            )


REGISTRY: dict[str, type[SRMethod]] = {}


def register(cls: type[SRMethod]) -> type[SRMethod]:
    """Class decorator: add a method to the registry; a duplicate name is an error."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if cls.name in REGISTRY:
        raise ValueError(f"method name '{cls.name}' is registered twice")
    REGISTRY[cls.name] = cls
    return cls
