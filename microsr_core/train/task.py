"""What a method's trainer supplies to the loop: a :class:`TrainTask` (its networks, optimisers,
one training step, a validation pass and its model card), with the helpers every task shares
(training pairs on the Y plane, the 8 flips/rotations, simulated captures)."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ..imaging.color import rgb_to_y
from ..imaging.capture_family import CaptureFamily
from ..imaging.degrade import CaptureRanges, Degradation, modcrop
from ..models.device import resolve_device
from ..errors import ParameterError
from ..models.network_input import upscale_ycbcr
from ..models.precision import autocast, describe_precision, resolve_precision
from ..models.weights import build_model
from .settings import RunSettings


#: LR pixels of context around a training crop when its capture is simulated, so that the
#: PSF (at most ~2 LR px wide for the ranges we train on) sees image, not a reflected border.
CAPTURE_MARGIN = 6


def context_margin(shape: tuple[int, ...], sides: tuple[int, int], scale: int) -> int:
    """LR px of capture context around a ``sides`` crop of an HR image of ``shape``: up to
    :data:`CAPTURE_MARGIN`, less where the image has less room (negative: the crop does not fit)."""
    return min(CAPTURE_MARGIN, *((length - side) // (2 * scale) for length, side in zip(shape[:2], sides)))


class TrainTask(ABC):
    """A method's trainer as :func:`run_training` drives it, with the scaffolding all of them share.

    ``__init__`` sets the runtime from the config (device, threads, precision, seeds, rank); a
    subclass then builds its data, networks and optimisers, and implements :meth:`train_step`,
    :meth:`measure` (one held-out example) and :meth:`export` (with :meth:`card`).
    """

    #: Key in :data:`microsr_core.train.TRAINERS` (saved with the config: ``train resume`` reads it).
    name: ClassVar[str]
    #: The paper it follows (a file in ``shared/papers``), for the model card.
    paper: ClassVar[str]
    #: Networks and optimisers by name, and the sampling generator: all go into checkpoints.
    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    rng: np.random.Generator
    #: Held-out examples by scale, each scored by :meth:`measure`.
    val_examples: dict[int, list]
    scale_weights: dict[int, float]
    device: torch.device
    precision: str  # fp32, bf16 or fp16
    #: This process's rank among ``world_size`` data-parallel processes (0 of 1 without torchrun).
    rank: int
    world_size: int
    #: Of the network it ships (:meth:`build_network`), with the card of its ``init`` weights or None.
    architecture: str
    arch_kwargs: dict[str, Any]
    init_card: dict[str, Any] | None
    #: Tensors of the network that its ``init`` weights lacked (a zero-started branch they have not: started at zero).
    init_missing: tuple[str, ...] = ()

    def __init__(self, config: RunSettings):
        self.config = config
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        # After the thread count: the CPU probe times convolutions with the run's threads.
        self.precision = resolve_precision(config.precision, self.device)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = torch.distributed.get_rank() if distributed else 0
        self.world_size = torch.distributed.get_world_size() if distributed else 1
        #: (moving average, network) pairs that :meth:`update_averages` moves.
        self._averages: list[tuple[torch.nn.Module, torch.nn.Module]] = []

    @cached_property
    def capture_ranges(self) -> CaptureRanges | CaptureFamily | None:
        """The random captures of a ``microscope`` or ``family`` run, else None (the method's own degradation)."""
        kinds = {"microscope": CaptureRanges, "family": CaptureFamily}
        kind = kinds.get(self.config.degradation)
        return kind.from_text(self.config.capture_ranges) if kind else None

    def capture_pair(self, hr: np.ndarray, scale: int, rng: np.random.Generator, margin: int = CAPTURE_MARGIN) -> tuple[np.ndarray, np.ndarray]:
        """(LR, target) of an RGB HR crop under a random capture (``microscope`` and ``family`` runs):
        the crop is cut ``margin`` LR px smaller on every side afterwards, LR and target
        alike, so that little of the PSF's border effect is learnt."""
        return _cut(*self.capture_ranges.pair(modcrop(hr, scale), scale, rng), scale, margin)

    def conditioned_capture_pair(self, hr: np.ndarray, scale: int, rng: np.random.Generator, margin: int = CAPTURE_MARGIN) -> tuple[np.ndarray, np.ndarray, float, float]:
        """:meth:`capture_pair` of a ``family`` run with the capture's measured noise and detail
        (:meth:`~microsr_core.imaging.capture_family.CaptureFamily.conditioned_pair`, on the whole capture)."""
        target, lr, noise, detail = self.capture_ranges.conditioned_pair(modcrop(hr, scale), scale, rng)
        return *_cut(lr, target, scale, margin), noise, detail

    def autocast(self):
        """Context for the networks' forward passes in the run's precision."""
        return autocast(self.precision, self.device)

    def build_network(self, arch_cls: type[torch.nn.Module], **arch_kwargs: Any) -> torch.nn.Module:
        """A fresh ``arch_cls(**arch_kwargs)`` on the device, or with ``init`` the shipped weights
        of that name (fine-tuned with a fresh optimiser), refused before any training when they
        are of another architecture or shape."""
        self.architecture, self.arch_kwargs, self.init_card = arch_cls.__name__, arch_kwargs, None
        name = self.config.init
        if not name:
            return arch_cls(**arch_kwargs).to(self.device)
        net, self.init_card = build_model(name)
        if self.init_card.get("architecture") != self.architecture:
            raise ParameterError(f"init: weights '{name}' are a {self.init_card.get('architecture')}, not a {self.architecture}")
        free = set(getattr(arch_cls, "tensor_free_kwargs", ())) | set(getattr(arch_cls, "zero_started_kwargs", ()))
        if {k: v for k, v in self.init_card.get("arch_kwargs", {}).items() if k not in free} != {k: v for k, v in arch_kwargs.items() if k not in free}:
            raise ParameterError(f"init: weights '{name}' ({self.init_card.get('arch_kwargs')}) do not fit this run's architecture flags ({arch_kwargs})")
        if self.init_card.get("arch_kwargs") != arch_kwargs:  # a flag that changes no tensor, or adds a branch: same weights, new module
            net = self._rebuilt(arch_cls, net, arch_kwargs)
        return net.train().to(self.device)

    def _rebuilt(self, arch_cls: type[torch.nn.Module], net: torch.nn.Module, arch_kwargs: dict[str, Any]) -> torch.nn.Module:
        """``arch_cls(**arch_kwargs)`` holding ``net``'s tensors. A branch that the init weights lack
        (an architecture's ``zero_started_kwargs``: VDSR's ``conditions``) keeps its zero start, and
        :attr:`init_missing` names its tensors; a branch they have and this run does not is refused."""
        fresh = arch_cls(**arch_kwargs)
        missing, unexpected = fresh.load_state_dict(net.state_dict(), strict=False)
        if unexpected:
            raise ParameterError(f"init: weights '{self.config.init}' have tensors this run's network lacks ({', '.join(unexpected)}): "
                                 f"its architecture flags ({arch_kwargs}) drop a branch of theirs ({self.init_card.get('arch_kwargs')})")
        self.init_missing = tuple(missing)
        return fresh

    def averaged(self, net: torch.nn.Module, name: str) -> torch.nn.Module:
        """What validation reads and the run ships: with ``ema``, a moving average of ``net``'s
        weights (in :attr:`modules` as ``name``, so checkpoints keep and resume it), else ``net``."""
        if not self.config.ema:
            return net
        average = copy.deepcopy(net).requires_grad_(False)
        self.modules[name] = average
        self._averages.append((average, net))
        return average

    @torch.no_grad()
    def update_averages(self) -> None:
        """After an optimiser step: each moving average moves ``1 - ema`` of the way to its network's weights."""
        for average, net in self._averages:
            for mean, weight in zip(average.parameters(), net.parameters()):
                mean.lerp_(weight, 1 - self.config.ema)

    def average_note(self, of: str = "the network") -> str:
        """What the card's optimiser entry adds when the run ships a moving average."""
        return f"; shipped and validated: the moving average of {of}'s weights, decay {self.config.ema}" if self.config.ema else ""

    def data_parallel(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` wrapped in DistributedDataParallel when several processes train (it
        broadcasts rank 0's weights now and averages gradients in backward()), else itself."""
        if self.world_size == 1:
            return module
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def draws(self, step: int) -> np.random.Generator:
        """The generator of step ``step``'s batch. Data-parallel ranks draw different batches;
        seeding by (seed, rank, step) keeps a resumed run exact without per-rank generator
        states in the (rank 0) checkpoint."""
        return np.random.default_rng((self.config.seed, self.rank, step)) if self.world_size > 1 else self.rng

    def set_learning_rate(self, step: int, factor: float, every: int) -> float:
        """Set every optimiser's learning rate to ``lr`` times ``factor`` per ``every`` steps done
        (times a parameter group's ``lr_scale``, where it has one); return it."""
        rate = self.config.lr * factor ** (step // every)
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = rate * group.get("lr_scale", 1.0)
        return rate

    def weigh_scales(self, input_loss: Callable[[int], float]) -> None:
        """Set :attr:`scale_weights`: 1 for every scale, or with ``balance_scales`` proportional
        to 1 / ``input_loss(scale)`` (the training loss of the network input itself), averaging 1.

        So weighted, equal relative (dB) improvements count the same at every scale
        (d log E = dE / E); unweighted, the small x2 error was left to grow (our runs ended
        below bicubic at x2).
        """
        if not self.config.balance_scales:
            self.scale_weights = {s: 1.0 for s in self.config.scales}
            return
        inverse = {s: 1.0 / max(input_loss(s), 1e-12) for s in self.config.scales}
        mean = float(np.mean(list(inverse.values())))
        self.scale_weights = {s: v / mean for s, v in inverse.items()}

    def scale_weights_note(self) -> str:
        """What the model card adds to the loss's description when the scales are balanced."""
        if not self.config.balance_scales:
            return ""
        return ", each scale's loss weighted by 1 / the input's loss at that scale (" + ", ".join(f"x{s} {w:.3f}" for s, w in self.scale_weights.items()) + ")"

    @abstractmethod
    def train_step(self, step: int) -> dict[str, float]:
        """Run training step ``step`` (0-based) and return its losses."""

    @abstractmethod
    def measure(self, scale: int, example: Any) -> dict[str, float]:
        """Metrics of one held-out example at ``scale`` (``psnr_y``, ``gain_db`` over the input, …)."""

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """Each :meth:`measure` metric averaged per scale over the held-out examples (``val_psnr_y_x2``…)."""
        if self.rank != 0:
            return {}  # only rank 0 writes the history; the others skip the work
        for module in self.modules.values():
            module.eval()
        result = {}
        for scale, examples in self.val_examples.items():
            rows = [self.measure(scale, example) for example in examples]
            for key in dict.fromkeys(k for row in rows for k in row):  # a metric may skip some examples
                result[f"val_{key}_x{scale}"] = float(np.nanmean([row.get(key, np.nan) for row in rows]))
        return result

    @abstractmethod
    def export(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The network to ship and its model card (:meth:`card`)."""

    def card(self, method: str, summary: str, **training: Any) -> dict[str, Any]:
        """The model card: the fields every trainer fills alike, around its own ``training`` entries."""
        c = self.config
        device = str(self.device) + (f" ({torch.get_num_threads()} threads)" if self.device.type == "cpu" else "")
        if self.world_size > 1:
            device += f" x {self.world_size} data-parallel processes"
        ranges = self.capture_ranges
        if ranges is not None:
            training["degradation"] = (
                f"a random microscope capture per example (microsr_core.imaging.degrade.CaptureRanges: {ranges.describe()})"
                if isinstance(ranges, CaptureRanges)
                else f"a random camera pipeline per example: {ranges.describe()}"
            )
        return {
            "method": method,
            "lr_kind": "real" if ranges is not None else "bicubic",
            "architecture": self.architecture,
            "arch_kwargs": self.arch_kwargs,
            "paper": self.paper,
            "scales": list(c.scales),
            "summary": summary,
            "training": {
                **training,
                "augmentation": "8 flips/90-degree rotations" if c.augment else "none",
                **({"initialised_from": self._describe_init()} if c.init else {}),
                "device": f"{device}; precision {describe_precision(self.precision, self.device)}",
            },
        }

    def _describe_init(self) -> str:
        training = self.init_card.get("training", {})
        missing = f"; tensors they lack, started at zero: {', '.join(self.init_missing)}" if self.init_missing else ""
        return (
            f"weights '{self.config.init}' (sha256 {self.init_card.get('sha256', '?')[:12]}, {training.get('steps', '?')} steps, "
            f"{training.get('wall_seconds', '?')} s){missing}; the steps of this card come on top"
        )


def _cut(lr: np.ndarray, target: np.ndarray, scale: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """``lr`` without ``margin`` px on every side, and ``target`` without as many LR px."""
    m, height, width = margin, *lr.shape[:2]
    return lr[m : height - m, m : width - m], target[m * scale : (height - m) * scale, m * scale : (width - m) * scale]


def dihedral(array: np.ndarray, k: int, axes: tuple[int, int] = (-2, -1)) -> np.ndarray:
    """One of the 8 flips/90-degree rotations (``k`` in 0..7) of ``array`` in the plane of ``axes``."""
    if k >= 4:
        array = np.flip(array, axes[1])
    return np.rot90(array, k % 4, axes=axes)


def y_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target) Y planes of an RGB HR image for the Y-channel networks: its MATLAB
    bicubic LR as the method upsamples it (:func:`~microsr_core.network_input.upscale_ycbcr`), and itself."""
    hr = modcrop(hr, scale)
    lr = Degradation("bicubic", scale).apply(hr)
    return y_planes(lr, hr, scale)


def y_planes(lr: np.ndarray, target: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target) Y planes of an RGB (LR, target) pair: the LR as the method upsamples it."""
    return np.ascontiguousarray(upscale_ycbcr(lr, scale)[..., 0]), rgb_to_y(target)


def captured_y_pair(capture: CaptureRanges | CaptureFamily, hr: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """:func:`y_pair` of an RGB HR image under one random capture of ``capture`` drawn from ``rng``."""
    return y_planes(*capture.pair(modcrop(hr, scale), scale, rng), scale)
