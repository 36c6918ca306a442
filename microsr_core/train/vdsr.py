"""Training VDSR-residual (Ayas & Ekinci 2019, §3.3, §4.1, §4.3).

48×48 Y patches on a stride-12 grid of (bicubic-upsampled LR, HR) pairs made with the MATLAB
bicubic degradation; loss ½‖r − f(x)‖² summed over pixels and averaged over the batch
(eq. 4); SGD with momentum 0.9 and weight decay 1e-4; learning rate 0.1 divided by 10 at fixed
intervals; adjustable gradient clipping to [−θ/γ, θ/γ]. A multi-scale model draws the scale of
every patch from ``scales``.

Data-parallel: when :mod:`torch.distributed` is initialised (``torchrun``, see
:mod:`microsr_core.jobs`), the network is wrapped in ``DistributedDataParallel`` (gradients are
averaged over ranks, so the effective batch is ``batch × world size``) and every rank draws its
own patches from a generator seeded by (seed, rank, step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..archs.vdsr import VDSR
from ..color import rgb_to_y
from ..data import list_images, split
from ..degrade import Degradation, bicubic_upscale, modcrop
from ..errors import ParameterError
from ..io import load_image
from ..metrics import psnr
from .loop import (
    RunSettings, TrainTask, check_config, describe_device, describe_init, describe_scale_weights, initial_network, prepare_runtime,
    scale_loss_weights, train_from_config,
)

PAPER = "000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)"


@dataclass
class VDSRConfig(RunSettings):
    """Every knob of a VDSR training run (one CLI flag each; saved as config.json).

    Fields left ``None`` come from the recipe: ``cpu`` (Adam 1e-4, the recipe of the shipped
    weights, the default on every device: SGD at lr 0.1 collapsed in our runs) or ``paper``
    (§4.1: SGD with momentum, lr 0.1 /10 every third of 20000 steps, adjustable clipping).
    """

    ARCH_FIELDS: ClassVar[tuple[str, ...]] = ("depth", "channels")
    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"optimizer": "sgd", "lr": 0.1, "steps": 20000, "lr_decay_every": 0},
        "cpu": {"optimizer": "adam", "lr": 1e-4, "steps": 1500, "lr_decay_every": 1000},
    }
    AUTO_RECIPE: ClassVar[dict[str, str]] = {"cpu": "cpu", "cuda": "cpu"}

    #: Comma-separated image folders (for example both stains: BCCD fields and wbc_seg cells).
    data: str
    out: str
    val: str | None = None
    scales: tuple[int, ...] = (2, 3, 4)
    steps: int | None = None
    batch: int = 16
    patch: int = 48
    stride: int = 12
    #: ``sgd`` is the paper's optimiser (SGD with momentum, lr 0.1, adjustable clipping).
    #: ``adam`` is for short budgets: in our 1100-step CPU run SGD at lr 0.1 silenced the last
    #: ReLU layer (0.004 % of units active) and the network collapsed to a constant residual.
    optimizer: str | None = None
    lr: float | None = None
    lr_decay_every: int | None = None  # 0: a third of the steps
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clip_theta: float = 0.001
    #: Divide each scale's loss term by that scale's bicubic MSE on the training set (weights
    #: averaging 1), so that every scale counts by its relative (dB) error. Unweighted, the
    #: x4 residuals, several times larger, dominate a multi-scale run and x2 falls behind.
    balance_scales: bool = False
    #: Start from the shipped weights of this manifest entry (for example ``vdsr``) with a
    #: fresh optimiser, instead of He initialisation.
    init: str | None = None
    augment: bool = True
    depth: int = 20
    channels: int = 64
    val_images: int = 8
    val_crop: int = 192

    def __post_init__(self):
        check_config(self, positive=("steps", "batch", "patch", "stride", "depth", "channels", "val_images", "lr"))
        if self.optimizer not in ("sgd", "adam"):
            raise ParameterError(f"optimizer must be 'sgd' or 'adam', got '{self.optimizer}'")


def training_files(config: VDSRConfig) -> tuple[list[Path], list[Path]]:
    """(training, validation) image files of ``config``; a folder without images raises ParameterError.

    With several ``data`` folders the validation files take turns between them, so the first
    ``val_images`` cover every folder.
    """
    folders = [part.strip() for part in config.data.split(",") if part.strip()]
    if not folders:
        raise ParameterError("no training data given (--data: image folders, comma-separated)")
    parts = [split(list_images(folder), config.val_fraction) for folder in folders]
    train_files = [path for train, _ in parts for path in train]
    if config.val:
        train_files = [path for folder in folders for path in list_images(folder)]
        return train_files, list_images(config.val)[: config.val_images]
    turns = [val for _, val in parts]
    val_files = [val[i] for i in range(max(map(len, turns))) for val in turns if i < len(val)]
    return train_files, val_files[: config.val_images]


class _Residual(torch.nn.Module):
    """``net.residual`` as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, net: VDSR):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.residual(x)


def load_pairs(files: list[Path], scales: tuple[int, ...]) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """For each scale, (bicubic-upsampled LR Y, HR Y) float32 pairs of every file."""
    pairs: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {s: [] for s in scales}
    for path in files:
        hr = load_image(path).pixels
        for s in scales:
            hr_s = modcrop(hr, s)
            lr = Degradation("bicubic", s).apply(hr_s)
            pairs[s].append((bicubic_upscale(rgb_to_y(lr), s), rgb_to_y(hr_s)))
    return pairs


def dihedral(batch: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/90° rotations of the last two axes."""
    if k >= 4:
        batch = batch[..., ::-1]
    return np.rot90(batch, k % 4, axes=(-2, -1))


class VDSRTask(TrainTask):
    def __init__(self, config: VDSRConfig):
        self.config = config
        prepare_runtime(self, config)
        self.train_files, self.val_files = training_files(config)
        self.train_pairs = load_pairs(self.train_files, config.scales)
        self.val_pairs = load_pairs(self.val_files, config.scales)
        if config.init:
            self.net, self.init_card = initial_network(config.init, "VDSR", {"depth": config.depth, "channels": config.channels})
        else:
            self.net, self.init_card = VDSR(depth=config.depth, channels=config.channels), None
        self.net = self.net.to(self.device).to(memory_format=torch.channels_last)
        if config.balance_scales:
            mse = {s: float(np.mean([np.mean((hr - ilr) ** 2) for ilr, hr in pairs])) for s, pairs in self.train_pairs.items()}
            self.scale_weights = scale_loss_weights(mse)
        else:
            self.scale_weights = {s: 1.0 for s in config.scales}
        self.modules = {"net": self.net}
        self.residual = self.net.residual
        if self.world_size > 1:
            # Broadcasts rank 0's weights at construction; averages gradients in backward().
            self.residual = torch.nn.parallel.DistributedDataParallel(
                _Residual(self.net), device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(
                self.net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            )
        self.optimizers = {config.optimizer: self.optimizer}
        self.decay_every = config.lr_decay_every or max(1, math.ceil(config.steps / 3))

    def learning_rate(self, step: int) -> float:
        return self.config.lr * 0.1 ** (step // self.decay_every)

    def sample_batch(self, rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(bicubic input, HR target, loss weight of each patch's scale) of one batch."""
        c = self.config
        rng = self.rng if rng is None else rng
        inputs, targets, weights = [], [], []
        for _ in range(c.batch):
            scale = c.scales[rng.integers(len(c.scales))]
            weights.append(self.scale_weights[scale])
            ilr, hr = self.train_pairs[scale][rng.integers(len(self.train_pairs[scale]))]
            rows = (hr.shape[0] - c.patch) // c.stride + 1
            cols = (hr.shape[1] - c.patch) // c.stride + 1
            top = rng.integers(rows) * c.stride
            left = rng.integers(cols) * c.stride
            window = np.stack([ilr, hr])[:, top : top + c.patch, left : left + c.patch]
            if c.augment:
                window = dihedral(window, int(rng.integers(8)))
            inputs.append(window[0])
            targets.append(window[1])
        x = torch.from_numpy(np.ascontiguousarray(np.stack(inputs)[:, None]))
        y = torch.from_numpy(np.ascontiguousarray(np.stack(targets)[:, None]))
        return (
            x.to(self.device, memory_format=torch.channels_last),
            y.to(self.device, memory_format=torch.channels_last),
            torch.tensor(weights, dtype=torch.float32, device=self.device),
        )

    def train_step(self, step: int) -> dict[str, float]:
        rate = self.learning_rate(step)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        # Data-parallel ranks draw different patches; seeding by step keeps a resumed run
        # exact without per-rank generator states in the (rank 0) checkpoint.
        rng = np.random.default_rng((self.config.seed, self.rank, step)) if self.world_size > 1 else None
        x, y, weights = self.sample_batch(rng)
        with self.autocast():
            residual = self.residual(x).float()
        # Eq. (4): ½‖r − f(x)‖² summed over pixels, averaged over the batch (times the scale's
        # weight, 1 unless balance_scales).
        squared = ((residual - (y - x)) ** 2).sum(dim=(1, 2, 3))
        loss = 0.5 * (weights * squared).sum() / x.shape[0]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Adjustable gradient clipping: the bound grows as the learning rate falls.
        torch.nn.utils.clip_grad_value_(self.net.parameters(), self.config.clip_theta / rate)
        self.optimizer.step()
        mse = squared.mean().item() / (x.shape[-1] * x.shape[-2])
        return {"loss": loss.item(), "train_psnr_y": 10 * math.log10(1 / max(mse, 1e-12)), "lr": rate}

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        if self.rank != 0:
            return {}  # only rank 0 writes the history; the others skip the work
        self.net.eval()
        c = self.config
        result = {}
        for scale, pairs in self.val_pairs.items():
            gains, values = [], []
            for ilr, hr in pairs:
                top = max(0, (hr.shape[0] - c.val_crop) // 2)
                left = max(0, (hr.shape[1] - c.val_crop) // 2)
                ilr_c = ilr[top : top + c.val_crop, left : left + c.val_crop]
                hr_c = hr[top : top + c.val_crop, left : left + c.val_crop]
                x = torch.from_numpy(np.ascontiguousarray(ilr_c))[None, None].to(self.device)
                with self.autocast():
                    sr = self.net(x.contiguous(memory_format=torch.channels_last))[0, 0].float().cpu().numpy()
                value = psnr(np.clip(sr, 0, 1), hr_c, crop_border=scale)
                values.append(value)
                gains.append(value - psnr(ilr_c, hr_c, crop_border=scale))
            result[f"val_psnr_y_x{scale}"] = float(np.mean(values))
            result[f"val_gain_db_x{scale}"] = float(np.mean(gains))
        return result

    def export(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        c = self.config
        return self.net, {
            "method": "vdsr",
            "architecture": "VDSR",
            "arch_kwargs": {"depth": c.depth, "channels": c.channels},
            "paper": PAPER,
            "scales": list(c.scales),
            "summary": "20-layer residual CNN on the Y channel (Cb/Cr bicubic); "
            + ("one multi-scale model." if len(c.scales) > 1 else f"single-scale x{c.scales[0]} model."),
            "training": {
                "data": f"{c.data} ({len(self.train_files)} training images)",
                "validation": c.val
                or f"{c.val_fraction:.0%} of the images held out by name hash (microsr_core.data.split), never trained on;"
                f" {len(self.val_files)} of them score the periodic validation",
                "patches": f"{c.patch}x{c.patch} Y, stride {c.stride}, batch {c.batch}",
                "augmentation": "8 flips/90-degree rotations" if c.augment else "none",
                "degradation": "MATLAB bicubic downscale, LR rounded to 8 bit",
                "optimizer": (f"SGD momentum {c.momentum}" if c.optimizer == "sgd" else "Adam")
                + f", weight decay {c.weight_decay}, lr {c.lr} /10 every {self.decay_every} steps",
                "gradient_clipping": f"value clip to +-{c.clip_theta}/lr",
                "loss": "0.5 * sum of squared residual error per image, batch mean (eq. 4)"
                + (describe_scale_weights(self.scale_weights) if c.balance_scales else ""),
                **({"initialised_from": describe_init(c.init, self.init_card)} if c.init else {}),
                "device": describe_device(self),
                "precision": self.precision,
            },
        }


def train_vdsr(config: VDSRConfig, *, resume: str | Path | None = None, **loop_options):
    """Build the task from ``config`` and train it (extra options pass to :func:`run_training`)."""
    return train_from_config(VDSRTask, config, resume=resume, **loop_options)
