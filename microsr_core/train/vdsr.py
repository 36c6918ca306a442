"""Training VDSR-residual (Ayas & Ekinci 2019, §3.3, §4.1, §4.3).

48×48 Y patches on a stride-12 grid of (bicubic-upsampled LR, HR) pairs made with the MATLAB
bicubic degradation; loss ½‖r − f(x)‖² summed over pixels and averaged over the batch
(eq. 4); SGD with momentum 0.9 and weight decay 1e-4; learning rate 0.1 divided by 10 at fixed
intervals; adjustable gradient clipping to [−θ/γ, θ/γ]. A multi-scale model draws the scale of
every patch from ``scales``. Data-parallel runs (:meth:`~.task.TrainTask.data_parallel`) average
gradients over ranks, so the effective batch is ``batch × world size``.

``--capture-maps true`` (with ``--degradation family``) trains a network that reads the capture's
noise and detail as two maps (:class:`~microsr_core.models.archs.vdsr.VDSR` with ``conditions=2``,
:mod:`microsr_core.imaging.capture_maps`): each patch's are the numbers measured on its own
capture (:meth:`~microsr_core.imaging.capture_family.CaptureFamily.conditioned_pair`), jittered by
the estimator's error; validation reads what inference reads, the estimate from the val LR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..models.archs.vdsr import VDSR
from ..imaging.data import folder_list, interleave, list_images, split
from ..errors import ParameterError
from ..imaging.capture_condition import estimate_condition
from ..imaging.capture_maps import ESTIMATE_RMSE, CaptureAssumption, jittered
from ..imaging.degrade import CaptureRanges, modcrop
from ..imaging.io import load_image
from ..imaging.metrics import psnr
from .loop import train_from_config
from .settings import RunSettings, check_config
from .task import TrainTask, context_margin, dihedral, y_pair, y_planes


@dataclass
class VDSRConfig(RunSettings):
    """Every knob of a VDSR training run (one CLI flag each; saved as config.json).

    Fields left ``None`` come from the recipe: ``cpu`` (Adam 1e-4, the recipe of the shipped
    weights, the default on every device: SGD at lr 0.1 collapsed in our runs) or ``paper``
    (§4.1: SGD with momentum, lr 0.1 /10 every third of 20000 steps, adjustable clipping).
    ``data``: comma-separated image folders (for example both stains: BCCD fields and wbc_seg cells).
    ``capture_maps``: the network reads each capture's noise and detail (needs ``degradation`` family).
    """

    ARCH_FIELDS: ClassVar[tuple[str, ...]] = ("depth", "channels", "capture_maps")
    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"optimizer": "sgd", "lr": 0.1, "steps": 20000, "lr_decay_every": 0},
        "cpu": {"optimizer": "adam", "lr": 1e-4, "steps": 1500, "lr_decay_every": 1000},
    }
    AUTO_RECIPE: ClassVar[dict[str, str]] = {"cpu": "cpu", "cuda": "cpu"}

    val: str | None = None
    scales: tuple[int, ...] = (2, 3, 4)
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
    depth: int = 20
    channels: int = 64
    val_images: int = 8
    val_crop: int = 192
    capture_maps: bool = False
    #: The capture-maps branch's learning rate as a multiple of ``lr``. Started at zero beside a
    #: trunk being fine-tuned at a small lr, the branch learned at that lr almost nothing in our
    #: run (x2, lr 3e-5, 1000 steps: weights 0.0025 against the first layer's 0.32, overrides moved
    #: the output by at most 1 grey level), so it can learn faster than the trunk it joins.
    maps_lr_factor: float = 1.0

    def __post_init__(self):
        check_config(self, positive=("batch", "patch", "stride", "depth", "channels", "val_images", "lr", "maps_lr_factor"))
        if self.optimizer not in ("sgd", "adam"):
            raise ParameterError(f"optimizer must be 'sgd' or 'adam', got '{self.optimizer}'")
        if self.capture_maps and self.degradation != "family":
            raise ParameterError("capture_maps needs degradation family (each capture's noise and detail are measured on its pipeline)")


def training_files(config: VDSRConfig) -> tuple[list[Path], list[Path]]:
    """(training, validation) image files of ``config``; a folder without images raises ParameterError.

    With several ``data`` folders the validation files take turns between them, so the first
    ``val_images`` cover every folder.
    """
    folders = folder_list(config.data)
    if not folders:
        raise ParameterError("no training data given (--data: image folders, comma-separated)")
    parts = [split(list_images(folder), config.val_fraction) for folder in folders]
    train_files = [path for train, _ in parts for path in train]
    if config.val:
        train_files = [path for folder in folders for path in list_images(folder)]
        return train_files, list_images(config.val)[: config.val_images]
    return train_files, interleave([val for _, val in parts])[: config.val_images]


class _Residual(torch.nn.Module):
    """``net.residual`` as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, net: VDSR):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        return self.net.residual(x, conditions)


def load_pairs(files: list[Path], scales: tuple[int, ...], ranges: CaptureRanges | None = None, seed: int = 0,
               maps: bool = False) -> dict[int, list[tuple[np.ndarray, ...]]]:
    """For each scale, the (bicubic-upsampled LR Y, HR Y) float32 pair (:func:`~.task.y_pair`) of
    every file; with ``ranges``, under one random capture per file and scale drawn from ``seed``,
    and with ``maps`` followed by the capture map values inference would read: the estimate from
    the LR's pixels (:class:`~microsr_core.imaging.capture_maps.CaptureAssumption`)."""
    pairs: dict[int, list[tuple[np.ndarray, ...]]] = {s: [] for s in scales}
    for index, path in enumerate(files):
        hr = load_image(path).pixels
        for s in scales:
            if ranges is None:
                pairs[s].append(y_pair(hr, s))
                continue
            lr, target = ranges.pair(modcrop(hr, s), s, np.random.default_rng((seed, index, s)))
            values = (CaptureAssumption().maps(estimate_condition(lr)).values(),) if maps else ()
            pairs[s].append((*y_planes(lr, target, s), *values))
    return pairs


class VDSRTask(TrainTask):
    name = "vdsr"
    paper = "000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)"

    def __init__(self, config: VDSRConfig):
        super().__init__(config)
        self.train_files, self.val_files = training_files(config)
        if self.capture_ranges is None:
            self.train_pairs = load_pairs(self.train_files, config.scales)
        else:  # captures are drawn anew for every patch, from the HR images (uint16: exact for 8 and 16 bit)
            self.train_hr = [np.round(load_image(path).pixels * 65535).astype(np.uint16) for path in self.train_files]
            self.train_pairs = {s: [self._capture_patch(s, np.random.default_rng((config.seed, s, i))) for i in range(64)] for s in config.scales}
        self.val_examples = load_pairs(self.val_files, config.scales, self.capture_ranges, config.seed, config.capture_maps)
        maps = {"conditions": 2} if config.capture_maps else {}  # the cards of plain runs keep their constructor arguments
        self.net = self.build_network(VDSR, depth=config.depth, channels=config.channels, **maps).to(memory_format=torch.channels_last)
        self.weigh_scales(lambda s: float(np.mean([np.mean((pair[1] - pair[0]) ** 2) for pair in self.train_pairs[s]])))
        self.modules = {"net": self.net}
        #: The network validated and shipped: the moving average of its weights, or itself.
        self.shipped = self.averaged(self.net, "net_ema")
        self.residual = self.data_parallel(_Residual(self.net))
        groups = self.parameter_groups()
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
        self.optimizers = {config.optimizer: self.optimizer}
        self.decay_every = config.lr_decay_every or max(1, math.ceil(config.steps / 3))

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The trunk's parameters, and the capture-maps branch's with its ``lr_scale`` (read by
        :meth:`~.task.TrainTask.set_learning_rate`)."""
        branch = list(self.net.condition.parameters()) if self.net.condition is not None else []
        trunk = [p for p in self.net.parameters() if all(p is not q for q in branch)]
        return [{"params": trunk}] + ([{"params": branch, "lr_scale": self.config.maps_lr_factor}] if branch else [])

    def _capture_patch(self, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """(bicubic input Y, target Y) of one ``patch``² crop of a random training image under
        a random capture (the crop taken with the context :meth:`~.task.TrainTask.capture_pair` cuts off);
        with ``capture_maps`` and the capture's jittered map values (:func:`~microsr_core.imaging.capture_maps.jittered`)."""
        patch = self.config.patch
        hr = self.train_hr[rng.integers(len(self.train_hr))]
        margin = context_margin(hr.shape, (patch, patch), scale)
        if margin < 0:
            raise ParameterError(f"training images must be at least {patch} px (the patch size); one is {hr.shape[1]}x{hr.shape[0]}")
        side = patch + 2 * margin * scale
        top, left = (int(rng.integers(length - side + 1)) for length in hr.shape[:2])
        crop = hr[top : top + side, left : left + side].astype(np.float32) / 65535
        if not self.config.capture_maps:
            return y_planes(*self.capture_pair(crop, scale, rng, margin), scale)
        lr, target, noise, detail = self.conditioned_capture_pair(crop, scale, rng, margin)
        return *y_planes(lr, target, scale), jittered(noise, detail, rng)

    def sample_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(bicubic input, HR target, loss weight of each patch's scale, capture map values (N, 2)
        or None without ``capture_maps``) of one batch."""
        c = self.config
        inputs, targets, weights, conditions = [], [], [], []
        for _ in range(c.batch):
            scale = c.scales[rng.integers(len(c.scales))]
            weights.append(self.scale_weights[scale])
            if self.capture_ranges is None:
                ilr, hr = self.train_pairs[scale][rng.integers(len(self.train_pairs[scale]))]
                top, left = (rng.integers((length - c.patch) // c.stride + 1) * c.stride for length in hr.shape)
            else:
                (ilr, hr, *values), top, left = self._capture_patch(scale, rng), 0, 0
                conditions += values
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
            torch.from_numpy(np.stack(conditions)).to(self.device) if conditions else None,
        )

    def train_step(self, step: int) -> dict[str, float]:
        rate = self.set_learning_rate(step, 0.1, self.decay_every)
        x, y, weights, conditions = self.sample_batch(self.draws(step))
        with self.autocast():
            residual = self.residual(x, conditions).float()
        # Eq. (4): ½‖r − f(x)‖² summed over pixels, averaged over the batch (times the scale's
        # weight, 1 unless balance_scales).
        squared = ((residual - (y - x)) ** 2).sum(dim=(1, 2, 3))
        loss = 0.5 * (weights * squared).sum() / x.shape[0]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Adjustable gradient clipping: the bound grows as the learning rate falls.
        torch.nn.utils.clip_grad_value_(self.net.parameters(), self.config.clip_theta / rate)
        self.optimizer.step()
        self.update_averages()
        mse = squared.mean().item() / (x.shape[-1] * x.shape[-2])
        return {"loss": loss.item(), "train_psnr_y": 10 * math.log10(1 / max(mse, 1e-12)), "lr": rate}

    def measure(self, scale: int, example: tuple[np.ndarray, ...]) -> dict[str, float]:
        """Y-PSNR (border = scale) of the central ``val_crop`` window and its gain over bicubic
        (with ``capture_maps``, the network reads the maps estimated from the whole val LR)."""
        side = self.config.val_crop
        top, left = (max(0, (length - side) // 2) for length in example[1].shape)
        ilr, hr = (plane[top : top + side, left : left + side] for plane in example[:2])
        x = torch.from_numpy(np.ascontiguousarray(ilr))[None, None].to(self.device)
        conditions = torch.from_numpy(example[2])[None].to(self.device) if len(example) > 2 else None
        with self.autocast():
            sr = self.shipped(x.contiguous(memory_format=torch.channels_last), conditions)[0, 0].float().cpu().numpy()
        value = psnr(np.clip(sr, 0, 1), hr, crop_border=scale)
        return {"psnr_y": value, "gain_db": value - psnr(ilr, hr, crop_border=scale)}

    def export(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        c = self.config
        return self.shipped, self.card(
            "vdsr",
            "20-layer residual CNN on the Y channel (Cb/Cr bicubic); "
            + ("one multi-scale model." if len(c.scales) > 1 else f"single-scale x{c.scales[0]} model."),
            data=f"{c.data} ({len(self.train_files)} training images)",
            validation=c.val
            or f"{c.val_fraction:.0%} of the images held out by name hash (microsr_core.imaging.data.split), never trained on;"
            f" {len(self.val_files)} of them score the periodic validation",
            patches=f"{c.patch}x{c.patch} Y, stride {c.stride}, batch {c.batch}",
            degradation="MATLAB bicubic downscale, LR rounded to 8 bit",
            **({"capture_maps": self.capture_maps_note()} if c.capture_maps else {}),
            optimizer=(f"SGD momentum {c.momentum}" if c.optimizer == "sgd" else "Adam")
            + f", weight decay {c.weight_decay}, lr {c.lr} /10 every {self.decay_every} steps"
            + (f" (the capture-maps branch {c.maps_lr_factor:g}x)" if c.capture_maps and c.maps_lr_factor != 1 else "")
            + self.average_note(),
            gradient_clipping=f"value clip to +-{c.clip_theta}/lr",
            loss="0.5 * sum of squared residual error per image, batch mean (eq. 4)" + self.scale_weights_note(),
        )


    @staticmethod
    def capture_maps_note() -> str:
        """What the card says of the capture maps a ``capture_maps`` network reads."""
        return ("noise and detail (microsr_core.imaging.capture_maps) as 2 constant maps: each training patch's measured on its "
                f"capture (CaptureFamily.conditioned_pair), jittered by exp(N(0, {ESTIMATE_RMSE})) (the estimator's log RMSE); "
                "validation reads estimate_condition of the val LR, as inference does")


train_vdsr = partial(train_from_config, VDSRTask)
