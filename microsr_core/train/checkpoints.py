"""Checkpoints of a training run: written atomically (write, then rename), restored on resume.

They hold only tensors and plain Python values, and are read with
``torch.load(weights_only=True)``: no pickle of code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import ParameterError
from .task import TrainTask


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`run_training` (no pickle of code)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def save_checkpoint(task: TrainTask, path: Path, step: int, history: list, wall: float, config: dict[str, Any]) -> None:
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


def restore(task: TrainTask, state: dict[str, Any]) -> tuple[int, list, float]:
    for name, module in task.modules.items():
        module.load_state_dict(state["modules"][name])
    for name, opt in task.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    task.rng.bit_generator.state = json.loads(state["rng_json"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), json.loads(state["history_json"]), float(state.get("wall_seconds", 0.0))
