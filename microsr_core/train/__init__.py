"""Trainers: one generic loop (:mod:`.loop`) and one task module per method.

:data:`TRAINERS` lists them for the command line, background jobs and benchmarks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ParameterError
from .loop import TrainResult, TrainTask, load_checkpoint, train_from_config
from .microgan import MicroGANTask, training_files as microgan_files
from .prior import PriorTask, training_samples
from .vdsr import VDSRTask, training_files


@dataclass(frozen=True)
class Trainer:
    task_cls: type[TrainTask]
    help: str
    #: The registered methods whose weights it makes (its config picks one; a test checks
    #: that every one is a registered method naming this trainer).
    produces: tuple[str, ...]
    #: Cheap pre-flight check of a config's data (raises ParameterError), run before a
    #: background job is queued so that bad data is refused before anything runs.
    check: Callable | None = None
    #: Config fields holding extra dataset folders (for example a validation folder); jobs
    #: resolve them inside the data root like the training data.
    path_fields: tuple[str, ...] = ()
    #: Config field that receives the dataset's mask folder; a trainer that sets it needs
    #: a mask for every training image (jobs refuse datasets without them).
    masks_field: str | None = None

    @property
    def config_cls(self) -> type:
        return self.task_cls.config_cls

    @property
    def needs_masks(self) -> bool:
        return self.masks_field is not None

    def run(self, config, *, resume: str | Path | dict[str, Any] | None = None, **loop_options) -> TrainResult:
        """Build the task from ``config`` and train it (:func:`~.loop.train_from_config`)."""
        return train_from_config(self.task_cls, config, resume=resume, **loop_options)


TRAINERS = {
    trainer.task_cls.name: trainer
    for trainer in (
        Trainer(VDSRTask, "VDSR-residual, multi-scale (Ayas & Ekinci 2019)", ("vdsr",), check=training_files, path_fields=("val",)),
        Trainer(PriorTask, "geometry-prior U-Net + SR network, multi-scale (Hua et al. 2020)", ("prior", "prior_none"),
                check=training_samples, masks_field="masks"),
        Trainer(MicroGANTask, "MicroGAN: WGAN-GP U-Net on single cells (Gautam et al.)", ("microgan", "microgan_fs"),
                check=microgan_files, path_fields=("val",)),
    )
}


def resume_run(run_dir: str | Path, changes: dict[str, Any] | None = None, **loop_options) -> TrainResult:
    """Continue the run in ``run_dir`` from its checkpoint and saved config alone.

    ``changes`` may set fields that do not shape the networks (``steps``, ``threads``, ``device``…);
    ``loop_options`` pass to :func:`~.loop.run_training`.
    """
    from ..configs import coerce_params

    checkpoint = Path(run_dir) / "checkpoint.pt"
    state = load_checkpoint(checkpoint)
    if "config_json" not in state:
        raise ParameterError(f"{checkpoint} holds no config (made before checkpoints carried one): resume it with 'train METHOD --resume'")
    values = json.loads(state["config_json"])
    trainer = TRAINERS[values.pop("trainer")]
    blocked = sorted(set(changes or {}) & set(trainer.config_cls.ARCH_FIELDS))
    if blocked:
        raise ParameterError(f"cannot change {', '.join(blocked)} when resuming: it shapes the networks")
    config = trainer.config_cls(**coerce_params(trainer.config_cls, {**values, **(changes or {})}))
    return trainer.run(config, resume=state, **loop_options)
