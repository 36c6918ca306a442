"""The one training loop every method's trainer runs: steps, validation, checkpoints, resume.

A method supplies a :class:`TrainTask` (its networks, optimisers, one training step and a
validation pass); :func:`run_training` does the rest the same way for all of them:

- a checkpoint (``checkpoint.pt``: state dicts, optimiser state, step, history, RNG states)
  written atomically (write, then rename) every ``checkpoint_every`` steps and at the end;
- validation every ``validate_every`` steps, appended to the history;
- ``history.jsonl`` in the output folder, one JSON row per logged step;
- a progress callback after every step (background jobs use it for progress, heartbeat and
  cancellation), and a tqdm bar on the command line;
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from safetensors.torch import save_file

from ..archs import parameter_count
from ..errors import ParameterError
from ..precision import PRECISION_CHOICES, autocast, describe_precision, resolve_precision


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
    """What a method's trainer provides to :func:`run_training`."""

    #: Networks by name (their state dicts go into checkpoints).
    modules: dict[str, torch.nn.Module]
    #: Optimisers by name.
    optimizers: dict[str, torch.optim.Optimizer]
    #: Random generator used for sampling (its state goes into checkpoints).
    rng: np.random.Generator

    def autocast(self):
        """Context for the networks' forward passes in the run's precision (set by prepare_runtime)."""
        return autocast(self.precision, self.device)

    @abstractmethod
    def train_step(self, step: int) -> dict[str, float]:
        """Run training step ``step`` (0-based) and return its losses."""

    @abstractmethod
    def validate(self) -> dict[str, float]:
        """Metrics on held-out data (for example ``val_psnr_x2``)."""

    @abstractmethod
    def export(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The network to ship and the model card fields describing it."""


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: The trained networks by name (every rank's own replica in a data-parallel run).
    modules: dict[str, torch.nn.Module] = field(default_factory=dict)


@dataclass(kw_only=True)
class RunSettings:
    """The fields every trainer's config shares (its dataclass derives from this one).

    Keyword-only, so a trainer's own required fields (``data``, ``out``) can still come first.

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

    #: A name in RECIPES, or auto (AUTO_RECIPE by device type).
    recipe: str = "auto"
    #: Of the images, held out by name hash for validation, and as many again for the test
    #: split that reports use (microsr_core.data.split_of).
    val_fraction: float = 0.1
    checkpoint_every: int = 250
    validate_every: int = 500
    device: str = "auto"
    #: auto, fp32, bf16 or fp16 (microsr_core.precision: auto measures the CPU's bf16 speed).
    precision: str = "auto"
    seed: int = 0
    threads: int = 0  # 0: torch's default

    @classmethod
    def recipe_fields(cls) -> set[str]:
        return {name for values in cls.RECIPES.values() for name in values}

    @classmethod
    def recipe_values(cls, recipe: str, device: str = "auto") -> dict[str, Any]:
        """The values recipe ``recipe`` gives (``auto`` resolved for ``device``)."""
        from ..device import resolve_device

        name = cls.AUTO_RECIPE[resolve_device(device).type] if recipe == "auto" else recipe
        if name not in cls.RECIPES:
            raise ParameterError(f"unknown recipe '{recipe}' (choose from auto, {', '.join(cls.RECIPES)})")
        return {"recipe": name, **cls.RECIPES[name]}


def apply_recipe(config: RunSettings) -> None:
    """Fill the fields ``config`` leaves ``None`` from its recipe, and name the recipe used."""
    values = config.recipe_values(config.recipe, config.device)
    config.recipe = values.pop("recipe")
    for name, value in values.items():
        if getattr(config, name) is None:
            setattr(config, name, value)


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
    if config.RECIPES:
        apply_recipe(config)
    config.scales = tuple(int(s) for s in config.scales)
    if not config.scales or min(config.scales) < min_scale:
        note = f" ({scale_note})" if scale_note else ""
        raise ParameterError(f"scales must be integers >= {min_scale}{note}, got {config.scales}")
    # The RunSettings fields every trainer has, then the trainer's own.
    for name in ("checkpoint_every", "validate_every") + positive:
        if getattr(config, name) <= 0:
            raise ParameterError(f"{name} must be positive, got {getattr(config, name)}")
    for name in ("threads",) + non_negative:
        if getattr(config, name) < 0:
            raise ParameterError(f"{name} must be >= 0, got {getattr(config, name)}")
    if config.precision not in PRECISION_CHOICES:
        raise ParameterError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got '{config.precision}'")
    if not 0 < config.val_fraction < 0.5:
        raise ParameterError(f"val_fraction must lie in (0, 0.5) (as many images again go to the test split), got {config.val_fraction}")


def prepare_runtime(task: TrainTask, config: RunSettings) -> None:
    """Set a task's device, threads, seeds and data-parallel rank from its config.

    Sets ``task.device``, ``task.precision``, ``task.rng``, ``task.rank`` and
    ``task.world_size`` (1 unless :mod:`torch.distributed` is initialised, as under ``torchrun``).
    """
    from ..device import resolve_device

    task.device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    # After the thread count: the CPU probe times convolutions with the run's threads.
    task.precision = resolve_precision(config.precision, task.device)
    torch.manual_seed(config.seed)
    task.rng = np.random.default_rng(config.seed)
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    task.rank = torch.distributed.get_rank() if distributed else 0
    task.world_size = torch.distributed.get_world_size() if distributed else 1


def scale_loss_weights(input_errors: dict[int, float]) -> dict[int, float]:
    """Per-scale loss weights proportional to 1 / (the network input's error at that scale), averaging 1.

    ``input_errors`` is the training loss of the bicubic (or blurred) input itself at each scale.
    Weighted so, equal relative (dB) improvements count the same at every scale
    (d log E = dE / E); unweighted, the large x4/x8 errors dominate a multi-scale run and the
    small x2 error is left to grow (our runs ended below bicubic at x2).
    """
    inverse = {s: 1.0 / max(e, 1e-12) for s, e in input_errors.items()}
    mean = float(np.mean(list(inverse.values())))
    return {s: v / mean for s, v in inverse.items()}


def describe_scale_weights(weights: dict[int, float]) -> str:
    return ", each scale's loss weighted by 1 / the input's loss at that scale (" + ", ".join(f"x{s} {w:.3f}" for s, w in weights.items()) + ")"


def initial_network(name: str, architecture: str, arch_kwargs: dict[str, Any]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The shipped network ``name`` (``--init``: fine-tune it with a fresh optimiser) and its card.

    Refuses, before any training, weights of another architecture or shape than the run's.
    """
    from ..weights import build_model

    net, card = build_model(name)
    if card.get("architecture") != architecture:
        raise ParameterError(f"init: weights '{name}' are a {card.get('architecture')}, not a {architecture}")
    if card.get("arch_kwargs") != arch_kwargs:
        raise ParameterError(f"init: weights '{name}' ({card.get('arch_kwargs')}) do not fit this run's architecture flags ({arch_kwargs})")
    return net.train(), card


def describe_init(name: str, card: dict[str, Any]) -> str:
    """The model card's ``initialised_from`` entry."""
    training = card.get("training", {})
    return (
        f"weights '{name}' (sha256 {card.get('sha256', '?')[:12]}, {training.get('steps', '?')} steps, "
        f"{training.get('wall_seconds', '?')} s); the steps of this card come on top"
    )


def describe_device(task: TrainTask) -> str:
    """The model card's ``device`` entry: the device, CPU threads, data-parallel processes, precision."""
    text = str(task.device)
    if task.device.type == "cpu":
        text += f" ({torch.get_num_threads()} threads)"
    if task.world_size > 1:
        text += f" x {task.world_size} data-parallel processes"
    return f"{text}; precision {describe_precision(task.precision, task.device)}"


def _atomic_torch_save(obj: Any, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    partial.replace(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`run_training` (no pickle of code)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def _save_checkpoint(task: TrainTask, path: Path, step: int, history: list, wall: float, config: dict[str, Any]) -> None:
    _atomic_torch_save(
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
        path,
    )


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
    resume: str | Path | None = None,
    checkpoint_every: int = 500,
    validate_every: int = 500,
    log_every: int = 10,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    show_bar: bool = False,
    is_main_process: bool = True,
) -> TrainResult:
    """Train ``task`` for ``steps`` steps in total (a resumed run counts its earlier steps).

    Raises :class:`TrainingCancelled` after saving a checkpoint when ``should_stop()`` turns
    true; the run can be resumed from that checkpoint.
    """
    if steps <= 0:
        raise ParameterError(f"steps must be positive, got {steps}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / "checkpoint.pt"
    history_path = out_dir / "history.jsonl"
    start, history, wall_before = 0, [], 0.0
    if resume is not None:
        start, history, wall_before = _restore(task, load_checkpoint(resume))
    if is_main_process:
        (out_dir / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
        history_path.write_text("".join(json.dumps(row) + "\n" for row in history))
    for module in task.modules.values():
        module.train()
    began = time.monotonic()
    bar = None
    if show_bar and is_main_process:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=start, unit="step", dynamic_ncols=True)
    sums: dict[str, float] = {}
    count = 0
    for step in range(start, steps):
        losses = task.train_step(step)
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value
        count += 1
        done = step + 1
        validation = None
        saved = None
        row: dict[str, Any] | None = None
        if done % log_every == 0 or done == steps:
            row = {"step": done, **{key: total / count for key, total in sums.items()}}
            sums, count = {}, 0
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
        if bar is not None:
            bar.update(1)
            bar.set_postfix({key: f"{value:.4g}" for key, value in (validation or losses).items()})
        if progress is not None:
            progress(Progress(done, steps, losses, validation, saved, row))
        if stopping:
            if bar is not None:
                bar.close()
            raise TrainingCancelled(f"stopped at step {done}; resume from {checkpoint}")
    if bar is not None:
        bar.close()
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


def check_resumable(state: dict[str, Any], config: RunSettings) -> None:
    """Refuse, in one line, to resume a checkpoint whose networks were built with other flags."""
    saved = json.loads(state.get("config_json", "{}"))
    changed = [name for name in config.ARCH_FIELDS if name in saved and saved[name] != getattr(config, name)]
    if changed:
        pairs = ", ".join(f"{name} {saved[name]!r} (now {getattr(config, name)!r})" for name in changed)
        raise ParameterError(f"cannot resume: the checkpoint's networks were built with {pairs}")


def train_from_config(task_cls: Callable[[Any], TrainTask], config, *, resume: str | Path | None = None, **loop_options) -> TrainResult:
    """Build ``task_cls(config)`` and run :func:`run_training` with the config's step, folder and
    cadence fields; the config is saved whole (with its trainer's name) in ``config.json`` and in
    every checkpoint, so ``train resume RUN_DIR`` needs nothing else. A resumed checkpoint is
    checked against the config's architecture fields before any data is read.
    """
    from . import trainer_name

    if resume is not None:
        check_resumable(load_checkpoint(resume), config)
    return run_training(
        task_cls(config),
        steps=config.steps,
        out_dir=config.out,
        config={"trainer": trainer_name(config), **asdict(config)},
        resume=resume,
        checkpoint_every=config.checkpoint_every,
        validate_every=config.validate_every,
        **loop_options,
    )


def resume_run(run_dir: str | Path, changes: dict[str, Any] | None = None, **loop_options) -> TrainResult:
    """Continue the run in ``run_dir`` from its checkpoint and saved config alone.

    ``changes`` may set fields that do not shape the networks (``steps``, ``threads``, ``device``…);
    ``loop_options`` pass to :func:`run_training`.
    """
    changes = changes or {}
    from . import TRAINERS
    from ..configs import coerce_params

    checkpoint = Path(run_dir) / "checkpoint.pt"
    state = load_checkpoint(checkpoint)
    if "config_json" not in state:
        raise ParameterError(f"{checkpoint} holds no config (made before checkpoints carried one): resume it with 'train METHOD --resume'")
    values = json.loads(state["config_json"])
    trainer = TRAINERS[values.pop("trainer")]
    blocked = sorted(set(changes) & set(trainer.config_cls.ARCH_FIELDS))
    if blocked:
        raise ParameterError(f"cannot change {', '.join(blocked)} when resuming: it shapes the networks")
    config = trainer.config_cls(**coerce_params(trainer.config_cls, {**values, **changes}))
    return trainer.run(config, resume=checkpoint, **loop_options)
