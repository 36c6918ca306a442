"""The one training loop every method's trainer runs: steps, validation, checkpoints, resume.

A method supplies a :class:`TrainTask` (its networks, optimisers, one training step and a
validation pass); :func:`run_training` does the rest the same way for all of them:

- a checkpoint (``checkpoint.pt``: state dicts, optimiser state, step, history, RNG states)
  written atomically (write, then rename) every ``checkpoint_every`` steps and at the end;
- validation every ``validate_every`` steps, appended to the history;
- ``history.jsonl`` in the output folder, one JSON row per logged step;
- a progress callback after every step (background jobs use it for progress, heartbeat and
  cancellation), which the command line draws as a tqdm bar;
- resume from a checkpoint, continuing the step count and the history;
- at the end, ``model.safetensors`` and ``card.json`` (the model card that
  :func:`microsr_core.weights.publish` completes).

Checkpoints hold only tensors and plain Python values, and are read with
``torch.load(weights_only=True)``: no pickle of code.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import KW_ONLY, asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from safetensors.torch import save_file

from ..models.archs import parameter_count
from ..imaging.color import rgb_to_y
from ..imaging.capture_family import CaptureFamily
from ..imaging.degrade import CaptureRanges, Degradation, modcrop
from ..models.device import resolve_device
from ..errors import ParameterError
from ..models.network_input import upscale_ycbcr
from ..models.precision import PRECISION_CHOICES, autocast, describe_precision, resolve_precision
from ..models.weights import build_model


#: The LR a trainer can learn: ``bicubic`` (as each method's paper makes it) or ``microscope``.
TRAINING_DEGRADATIONS = ("bicubic", "microscope", "family")
#: LR pixels of context around a training crop when its capture is simulated, so that the
#: PSF (at most ~2 LR px wide for the ranges we train on) sees image, not a reflected border.
CAPTURE_MARGIN = 6


@dataclass
class Progress:
    """Reported to the progress callback after every step."""

    step: int
    total: int
    losses: dict[str, float]
    validation: dict[str, float] | None = None
    checkpoint: Path | None = None
    #: The row appended to the history at this step (also written to history.jsonl), if any.
    row: dict[str, Any] | None = None


class TrainingCancelled(Exception):
    """Raised inside the loop when ``should_stop`` asks it to stop (after a checkpoint)."""


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
        lr, target = self.capture_ranges.pair(modcrop(hr, scale), scale, rng)
        m, height, width = margin, *lr.shape[:2]
        return lr[m : height - m, m : width - m], target[m * scale : (height - m) * scale, m * scale : (width - m) * scale]

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
        free = set(getattr(arch_cls, "tensor_free_kwargs", ()))
        if {k: v for k, v in self.init_card.get("arch_kwargs", {}).items() if k not in free} != {k: v for k, v in arch_kwargs.items() if k not in free}:
            raise ParameterError(f"init: weights '{name}' ({self.init_card.get('arch_kwargs')}) do not fit this run's architecture flags ({arch_kwargs})")
        if self.init_card.get("arch_kwargs") != arch_kwargs:  # a flag that changes no tensor: same weights, new module
            fresh = arch_cls(**arch_kwargs)
            fresh.load_state_dict(net.state_dict())
            net = fresh
        return net.train().to(self.device)

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
        """Set every optimiser's learning rate to ``lr`` times ``factor`` per ``every`` steps done; return it."""
        rate = self.config.lr * factor ** (step // every)
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = rate
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
        return (
            f"weights '{self.config.init}' (sha256 {self.init_card.get('sha256', '?')[:12]}, {training.get('steps', '?')} steps, "
            f"{training.get('wall_seconds', '?')} s); the steps of this card come on top"
        )


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
    return np.ascontiguousarray(upscale_ycbcr(lr, scale)[..., 0]), rgb_to_y(hr)


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: The trained networks by name (every rank's own replica in a data-parallel run).
    modules: dict[str, torch.nn.Module] = field(default_factory=dict)


@dataclass
class RunSettings:
    """The fields every trainer's config shares (its dataclass derives from this one).

    ``data`` and ``out`` may be given by position; the others are keyword-only, so that a
    trainer's own fields follow ``data`` and ``out``.

    Training recipes: a trainer lists in ``RECIPES`` named sets of values for the fields whose
    default is ``None``; ``recipe`` picks one (``auto``: ``AUTO_RECIPE`` by device type, so the
    paper's budget on CUDA and one measured to fit a CPU there), and :func:`check_config` fills
    every field the user left ``None`` from it. A value given by the user always wins.
    """

    #: {recipe name: {field: value}} of this trainer.
    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {}
    #: The recipe ``auto`` means on each device type.
    AUTO_RECIPE: ClassVar[dict[str, str]] = {"cpu": "cpu", "cuda": "paper"}
    #: Fields that shape the networks: a run may not resume a checkpoint made with others.
    ARCH_FIELDS: ClassVar[tuple[str, ...]] = ()

    #: The training images (the trainer's docstring says which folders it takes).
    data: str
    #: Output folder: checkpoint, history, weights and model card.
    out: str
    _: KW_ONLY
    #: A name in RECIPES, or auto (AUTO_RECIPE by device type).
    recipe: str = "auto"
    #: Optimiser steps (of the generator, in a GAN).
    steps: int | None = None
    #: Random flips and 90-degree rotations of the training data.
    augment: bool = True
    #: Start from the shipped weights of this manifest entry (for example ``vdsr``) with fresh
    #: optimisers, instead of a random initialisation.
    init: str | None = None
    #: Weight each scale's loss by 1 / the network input's own loss there (weights averaging
    #: 1), so that every scale counts by its relative (dB) error: unweighted, the larger x4/x8
    #: errors dominate a multi-scale run and x2 falls behind.
    balance_scales: bool = False
    #: Of the images, held out by name hash for validation, and as many again for the test
    #: split that reports use (microsr_core.imaging.data.split_of).
    val_fraction: float = 0.1
    checkpoint_every: int = 250
    validate_every: int = 500
    device: str = "auto"
    #: auto, fp32, bf16 or fp16 (microsr_core.precision: auto measures the CPU's bf16 speed).
    precision: str = "auto"
    #: How training LR is made: ``bicubic`` (the MATLAB bicubic downscale; MicroGAN's x1 blurs)
    #: or ``microscope`` (every example its own random real capture: lower objective, camera
    #: pixel, shot/read noise, JPEG; microsr_core.imaging.degrade.CaptureRanges).
    degradation: str = "bicubic"
    #: With ``microscope``: ranges such as ``na=0.2:0.6,full_well=800:20000`` (unnamed ones keep
    #: the defaults of microsr_core.imaging.degrade.CaptureRanges).
    capture_ranges: str | None = None
    seed: int = 0
    threads: int = 0  # 0: torch's default

    @classmethod
    def recipe_fields(cls) -> set[str]:
        return {name for values in cls.RECIPES.values() for name in values}

    @classmethod
    def recipe_values(cls, recipe: str, device: str = "auto") -> dict[str, Any]:
        """The values recipe ``recipe`` gives (``auto`` resolved for ``device``)."""
        name = cls.AUTO_RECIPE[resolve_device(device).type] if recipe == "auto" else recipe
        if name not in cls.RECIPES:
            raise ParameterError(f"unknown recipe '{recipe}' (choose from auto, {', '.join(cls.RECIPES)})")
        return {"recipe": name, **cls.RECIPES[name]}


def check_config(
    config: RunSettings,
    *,
    min_scale: int = 2,
    scale_note: str = "",
    positive: tuple[str, ...] = (),
    non_negative: tuple[str, ...] = (),
) -> None:
    """Make ``config.scales`` a tuple of ints and refuse out-of-range numbers.

    Shared by the trainers' config dataclasses (their ``__post_init__``) so that the CLI, the
    jobs and the Train page all get one ParameterError naming the field; ``scale_note`` says
    what a special scale means (for example ``1 = Gaussian blur``). Fills the recipe's fields first.
    """
    if config.RECIPES:  # fill the fields the user left None, and name the recipe used
        values = config.recipe_values(config.recipe, config.device)
        config.recipe = values.pop("recipe")
        for name, value in values.items():
            if getattr(config, name) is None:
                setattr(config, name, value)
    config.scales = tuple(int(s) for s in config.scales)
    if not config.scales or min(config.scales) < min_scale:
        note = f" ({scale_note})" if scale_note else ""
        raise ParameterError(f"scales must be integers >= {min_scale}{note}, got {config.scales}")
    # The RunSettings fields every trainer has, then the trainer's own.
    for name in ("steps", "checkpoint_every", "validate_every") + positive:
        if getattr(config, name) <= 0:
            raise ParameterError(f"{name} must be positive, got {getattr(config, name)}")
    for name in ("threads",) + non_negative:
        if getattr(config, name) < 0:
            raise ParameterError(f"{name} must be >= 0, got {getattr(config, name)}")
    if config.precision not in PRECISION_CHOICES:
        raise ParameterError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got '{config.precision}'")
    if config.degradation not in TRAINING_DEGRADATIONS:
        raise ParameterError(f"degradation must be one of {', '.join(TRAINING_DEGRADATIONS)}, got '{config.degradation}'")
    if config.capture_ranges and config.degradation not in ("microscope", "family"):
        raise ParameterError("capture_ranges needs degradation microscope or family")
    CaptureRanges.from_text(config.capture_ranges)  # refused here, before any data is read
    if not 0 < config.val_fraction < 0.5:
        raise ParameterError(f"val_fraction must lie in (0, 0.5) (as many images again go to the test split), got {config.val_fraction}")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`run_training` (no pickle of code)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def _save_checkpoint(task: TrainTask, path: Path, step: int, history: list, wall: float, config: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")  # written, then renamed: never half a checkpoint
    torch.save(
        {
            "config_json": json.dumps(config, default=str),
            "step": step,
            "wall_seconds": wall,
            "modules": {name: module.state_dict() for name, module in task.modules.items()},
            "optimizers": {name: opt.state_dict() for name, opt in task.optimizers.items()},
            "history_json": json.dumps(history),
            "rng_json": json.dumps(task.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
        },
        partial,
    )
    partial.replace(path)


def _restore(task: TrainTask, state: dict[str, Any]) -> tuple[int, list, float]:
    for name, module in task.modules.items():
        module.load_state_dict(state["modules"][name])
    for name, opt in task.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    task.rng.bit_generator.state = json.loads(state["rng_json"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), json.loads(state["history_json"]), float(state.get("wall_seconds", 0.0))


def run_training(
    task: TrainTask,
    *,
    steps: int,
    out_dir: str | Path,
    config: dict[str, Any],
    resume: dict[str, Any] | None = None,
    checkpoint_every: int = 500,
    validate_every: int = 500,
    log_every: int = 10,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    is_main_process: bool = True,
) -> TrainResult:
    """Train ``task`` for ``steps`` steps in total (a resumed run counts its earlier steps).

    ``resume`` is the state of the checkpoint to continue from (:func:`load_checkpoint`).

    Raises :class:`TrainingCancelled` after saving a checkpoint when ``should_stop()`` turns
    true; the run can be resumed from that checkpoint.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / "checkpoint.pt"
    history_path = out_dir / "history.jsonl"
    start, history, wall_before = 0, [], 0.0
    if resume is not None:
        start, history, wall_before = _restore(task, resume)
    if is_main_process:
        (out_dir / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
        history_path.write_text("".join(json.dumps(row) + "\n" for row in history))
    for module in task.modules.values():
        module.train()
    began = time.monotonic()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}  # per key: a step may leave a loss out (the prior's SR-only batches)
    for step in range(start, steps):
        losses = task.train_step(step)
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        done = step + 1
        validation = None
        saved = None
        row: dict[str, Any] | None = None
        if done % log_every == 0 or done == steps:
            row = {"step": done, **{key: total / counts[key] for key, total in sums.items()}}
            sums, counts = {}, {}
        if done % validate_every == 0 or done == steps:
            validation = task.validate()
            for module in task.modules.values():
                module.train()
            row = {**(row or {"step": done}), **validation}
        if row is not None:
            row["wall_seconds"] = round(wall_before + time.monotonic() - began, 2)
            history.append(row)
            if is_main_process:
                with open(history_path, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
        stopping = should_stop is not None and should_stop()
        if is_main_process and (done % checkpoint_every == 0 or done == steps or stopping):
            _save_checkpoint(task, checkpoint, done, history, wall_before + time.monotonic() - began, config)
            saved = checkpoint
        if progress is not None:
            progress(Progress(done, steps, losses, validation, saved, row))
        if stopping:
            raise TrainingCancelled(f"stopped at step {done}; resume from {checkpoint}")
    wall = wall_before + time.monotonic() - began
    if is_main_process:
        model, card = task.export()
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out_dir / "model.safetensors"))
        card = {
            **card,
            "parameters": parameter_count(model),
            "training": {**card.get("training", {}), "steps": steps, "wall_seconds": round(wall, 1)},
            "final_validation": next((r for r in reversed(history) if any(k.startswith("val_") for k in r)), {}),
        }
        (out_dir / "card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    return TrainResult(out_dir, steps, history, wall, dict(task.modules))


def train_from_config(task_cls: type[TrainTask], config: RunSettings, *, resume: str | Path | dict[str, Any] | None = None, **loop_options) -> TrainResult:
    """Build ``task_cls(config)`` and run :func:`run_training` with the config's step, folder and
    cadence fields; the config is saved whole (with its trainer's name) in ``config.json`` and in
    every checkpoint, so ``train resume RUN_DIR`` needs nothing else. ``resume`` (a checkpoint
    file, or its state as :func:`load_checkpoint` read it) whose networks were built with other
    architecture fields is refused in one line, before any data is read.
    """
    state = load_checkpoint(resume) if isinstance(resume, (str, Path)) else resume
    saved = json.loads(state.get("config_json", "{}")) if state is not None else {}
    changed = [name for name in config.ARCH_FIELDS if name in saved and saved[name] != getattr(config, name)]
    if changed:
        pairs = ", ".join(f"{name} {saved[name]!r} (now {getattr(config, name)!r})" for name in changed)
        raise ParameterError(f"cannot resume: the checkpoint's networks were built with {pairs}")
    return run_training(
        task_cls(config),
        steps=config.steps,
        out_dir=config.out,
        config={"trainer": task_cls.name, **asdict(config)},
        resume=state,
        checkpoint_every=config.checkpoint_every,
        validate_every=config.validate_every,
        **loop_options,
    )
