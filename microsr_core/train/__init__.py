"""Trainers: one generic loop (:mod:`.loop`) and one task module per method.

:data:`TRAINERS` lists them for the command line, background jobs and benchmarks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ParameterError
from .checkpoints import load_checkpoint
from .loop import TrainResult
from .task import TrainTask
from .microgan import MicroGANConfig, MicroGANTask, train_microgan, training_files as microgan_files
from .prior import PriorConfig, PriorTask, train_prior, training_samples
from .vdsr import VDSRConfig, VDSRTask, training_files, train_vdsr


@dataclass(frozen=True)
class Trainer:
    config_cls: type
    #: ``run(config, *, resume=None, **loop_options)``: train (:func:`~.loop.train_from_config`).
    run: Callable[..., TrainResult]
    help: str
    #: Cheap pre-flight check of a config's data (raises ParameterError), run before a
    #: background job is queued so that bad data is refused before anything runs.
    check: Callable | None = None
    #: Config fields holding extra dataset folders (for example a validation folder); jobs
    #: resolve them inside the data root like the training data.
    path_fields: tuple[str, ...] = ()
    #: Config field that receives the dataset's mask folder; a trainer that sets it needs
    #: a mask for every training image (jobs refuse datasets without them).
    masks_field: str | None = None
    #: The task it runs (benchmarks build it directly), and the registered methods whose
    #: weights it makes (its config picks one; a test checks them against the registry).
    task_cls: type[TrainTask] | None = None
    produces: tuple[str, ...] = ()

    @property
    def needs_masks(self) -> bool:
        return self.masks_field is not None


TRAINERS = {
    "vdsr": Trainer(VDSRConfig, train_vdsr, "VDSR-residual, multi-scale (Ayas & Ekinci 2019)", check=training_files,
                    path_fields=("val",), task_cls=VDSRTask, produces=("vdsr",)),
    "prior": Trainer(PriorConfig, train_prior, "geometry-prior U-Net + SR network, multi-scale (Hua et al. 2020)",
                     check=training_samples, masks_field="masks", task_cls=PriorTask, produces=("prior", "prior_none")),
    "microgan": Trainer(MicroGANConfig, train_microgan, "MicroGAN: WGAN-GP U-Net on single cells (Gautam et al.)",
                        check=microgan_files, path_fields=("val",), task_cls=MicroGANTask, produces=("microgan", "microgan_fs")),
}


def resume_run(run_dir: str | Path, changes: dict[str, Any] | None = None, **loop_options) -> TrainResult:
    """Continue the run in ``run_dir`` from its checkpoint and saved config alone.

    ``changes`` may set fields that do not shape the networks (``steps``, ``threads``, ``device``…);
    ``loop_options`` pass to :func:`~.loop.run_training`.
    """
    from .configs import coerce_params

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
