"""Trainers: one generic loop (:mod:`.loop`) and one task module per method.

:data:`TRAINERS` lists them for the command line and for background jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Trainer:
    config_cls: type
    run: Callable
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

    @property
    def needs_masks(self) -> bool:
        return self.masks_field is not None


def _trainers() -> dict[str, Trainer]:
    from .microgan import MicroGANConfig, train_microgan, training_files as microgan_files
    from .prior import PriorConfig, train_prior, training_samples
    from .vdsr import VDSRConfig, training_files, train_vdsr

    return {
        "vdsr": Trainer(
            VDSRConfig, train_vdsr, "VDSR-residual, multi-scale (Ayas & Ekinci 2019)",
            check=training_files, path_fields=("val",),
        ),
        "prior": Trainer(
            PriorConfig, train_prior, "geometry-prior U-Net + SR network, multi-scale (Hua et al. 2020)",
            check=training_samples, masks_field="masks",
        ),
        "microgan": Trainer(MicroGANConfig, train_microgan, "MicroGAN: WGAN-GP U-Net on single cells (Gautam et al.)", check=microgan_files, path_fields=("val",)),
    }


TRAINERS = _trainers()


def trainer_name(config) -> str:
    """The key in :data:`TRAINERS` of the trainer whose config ``config`` is."""
    return next(name for name, trainer in TRAINERS.items() if isinstance(config, trainer.config_cls))
