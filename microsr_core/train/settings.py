"""The fields every trainer's config shares, and the one check of them (CLI, jobs and the Train
page all get one ParameterError naming the field)."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar


from ..imaging.degrade import CaptureRanges
from ..models.device import resolve_device
from ..errors import ParameterError
from ..models.choices import PRECISION_CHOICES


#: The LR a trainer can learn: ``bicubic`` (as each method's paper makes it) or ``microscope``.
TRAINING_DEGRADATIONS = ("bicubic", "microscope", "family")


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
    #: How training LR is made: ``bicubic`` (the MATLAB bicubic downscale; MicroGAN's x1 blurs),
    #: ``microscope`` (every example its own random real capture: lower objective, camera
    #: pixel, shot/read noise, JPEG; microsr_core.imaging.degrade.CaptureRanges) or ``family``
    #: (every example its own camera pipeline: microsr_core.imaging.capture_family.CaptureFamily).
    degradation: str = "bicubic"
    #: With ``microscope`` or ``family``: optics and noise ranges such as ``na=0.2:0.6,full_well=800:20000`` (unnamed ones keep
    #: the defaults of microsr_core.imaging.degrade.CaptureRanges).
    capture_ranges: str | None = None
    seed: int = 0
    threads: int = 0  # 0: torch's default
    #: Decay of an exponential moving average of the shipped network's weights, which validation
    #: reads and the run ships (0: off). MicroGAN's pixel-loss runs' val gain swung by 1.3 dB
    #: between checkpoints 250 steps apart (1.20 … 2.54 at x3), so picking the best picked noise.
    ema: float = 0.0
    #: Training seconds after which the run ends at the step it is on, validated, checkpointed
    #: and exported as if its steps were done (0: no limit; a resumed run counts its earlier
    #: seconds): a CPU budget kept to the second without losing the weights reached.
    max_seconds: float = 0.0

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
    for name in ("threads", "max_seconds") + non_negative:
        if getattr(config, name) < 0:
            raise ParameterError(f"{name} must be >= 0, got {getattr(config, name)}")
    if not 0 <= config.ema < 1:
        raise ParameterError(f"ema must be in [0, 1) (0: off), got {config.ema}")
    if config.precision not in PRECISION_CHOICES:
        raise ParameterError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got '{config.precision}'")
    if config.degradation not in TRAINING_DEGRADATIONS:
        raise ParameterError(f"degradation must be one of {', '.join(TRAINING_DEGRADATIONS)}, got '{config.degradation}'")
    if config.capture_ranges and config.degradation not in ("microscope", "family"):
        raise ParameterError("capture_ranges needs degradation microscope or family")
    CaptureRanges.from_text(config.capture_ranges)  # refused here, before any data is read
    if not 0 < config.val_fraction < 0.5:
        raise ParameterError(f"val_fraction must lie in (0, 0.5) (as many images again go to the test split), got {config.val_fraction}")
