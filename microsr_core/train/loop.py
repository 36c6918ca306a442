"""The one training loop every method's trainer runs: steps, validation, checkpoints, resume.

A method supplies a :class:`~.task.TrainTask` (its networks, optimisers, one training step and a
validation pass) and a config derived from :class:`~.settings.RunSettings`; :func:`run_training`
does the rest the same way for all of them:

- a checkpoint (``checkpoint.pt``: state dicts, optimiser state, step, history, RNG states)
  written atomically (write, then rename) every ``checkpoint_every`` steps and at the end;
- validation every ``validate_every`` steps, appended to the history;
- ``history.jsonl`` in the output folder, one JSON row per logged step;
- a progress callback after every step (background jobs use it for progress, heartbeat and
  cancellation), which the command line draws as a tqdm bar;
- resume from a checkpoint, continuing the step count and the history;
- at the end, ``model.safetensors`` and ``card.json`` (the model card that
  :func:`microsr_core.weights.publish` completes).

Checkpoints (:mod:`.checkpoints`) hold only tensors and plain Python values, and are read with
``torch.load(weights_only=True)``: no pickle of code.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import save_file

from ..models.archs import parameter_count
from ..errors import ParameterError
from .checkpoints import load_checkpoint, restore, save_checkpoint
from .settings import RunSettings
from .task import TrainTask


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


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: The trained networks by name (every rank's own replica in a data-parallel run).
    modules: dict[str, torch.nn.Module] = field(default_factory=dict)


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
    max_seconds: float = 0.0,
) -> TrainResult:
    """Train ``task`` for ``steps`` steps in total (a resumed run counts its earlier steps), or
    until ``max_seconds`` of training (0: no limit), where the run ends as if that step were its
    last: validated, checkpointed and exported, the card saying so.

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
        start, history, wall_before = restore(task, resume)
    if is_main_process:
        (out_dir / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
        history_path.write_text("".join(json.dumps(row) + "\n" for row in history))
    for module in task.modules.values():
        module.train()
    began = time.monotonic()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}  # per key: a step may leave a loss out (the prior's SR-only batches)
    done, out_of_time = start, False
    for step in range(start, steps):
        losses = task.train_step(step)
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        done = step + 1
        out_of_time = max_seconds > 0 and wall_before + time.monotonic() - began >= max_seconds
        last = done == steps or out_of_time
        validation = None
        saved = None
        row: dict[str, Any] | None = None
        if done % log_every == 0 or last:
            row = {"step": done, **{key: total / counts[key] for key, total in sums.items()}}
            sums, counts = {}, {}
        if done % validate_every == 0 or last:
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
        if is_main_process and (done % checkpoint_every == 0 or last or stopping):
            save_checkpoint(task, checkpoint, done, history, wall_before + time.monotonic() - began, config)
            saved = checkpoint
        if progress is not None:
            progress(Progress(done, steps, losses, validation, saved, row))
        if stopping:
            raise TrainingCancelled(f"stopped at step {done}; resume from {checkpoint}")
        if out_of_time:
            break
    wall = wall_before + time.monotonic() - began
    if is_main_process:
        _export(task, out_dir, done, wall, history, f"stopped by max_seconds {max_seconds:g} at step {done} of {steps}" if out_of_time else None)
    return TrainResult(out_dir, done, history, wall, dict(task.modules))


def _export(task: TrainTask, out_dir: Path, steps: int, wall: float, history: list[dict[str, Any]], stop_note: str | None) -> None:
    """The run's weights (``model.safetensors``) and card, with its steps, seconds and last validation."""
    model, card = task.export()
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out_dir / "model.safetensors"))
    training = {**card.get("training", {}), "steps": steps, "wall_seconds": round(wall, 1), **({"stopped": stop_note} if stop_note else {})}
    card = {
        **card,
        "parameters": parameter_count(model),
        "training": training,
        "final_validation": next((r for r in reversed(history) if any(k.startswith("val_") for k in r)), {}),
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")


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
        max_seconds=config.max_seconds,
        **loop_options,
    )
