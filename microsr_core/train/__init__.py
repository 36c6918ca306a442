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


def _trainers() -> dict[str, Trainer]:
    from .vdsr import VDSRConfig, train_vdsr

    return {"vdsr": Trainer(VDSRConfig, train_vdsr, "VDSR-residual, multi-scale (Ayas & Ekinci 2019)")}


TRAINERS = _trainers()
