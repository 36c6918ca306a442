"""Training the geometry-prior SR network (Hua et al. 2020, ``shared/papers/003_…`` §2.3–§2.5).

- **Data**: whole images with expert masks (``wbc_seg``: 0 background, 128 cytoplasm, 255
  nucleus), never patches, so that a cell is seen whole (structural consistency, §2.4). The
  validation images are held out by name hash (:func:`microsr_core.imaging.data.split`). LR images are
  made with the MATLAB bicubic degradation (rounded to 8 bit) and upsampled bicubically; the
  networks see Y only (§2.4). ``--degradation microscope|family`` (real-capture weights, crops
  only) draws a new capture of every crop instead, from the HR with a little context around it,
  and validates on one seeded capture of each held-out image.
- **Batches**: ``batch`` images of one source folder and one scale (drawn from ``scales`` per
  step: one model serves every scale). Images of different sizes are padded by reflection to
  the largest in the batch, and padded pixels are left out of both losses. Optional random
  flips and 90° rotations. With ``crop`` > 0 (the CPU recipe) every batch holds random
  ``crop``² windows instead, ``cell_fraction`` of them centred on a pixel that the expert mask
  calls nucleus or cytoplasm, so that most show part of a cell; validation stays on whole
  held-out images.
- **Loss** (eq. 5): Charbonnier ρ(x) = √(x² + ε²), ε = 1e-3, on the SR Y, plus λ·BCE on the
  parsing map (λ = 1): binary cross-entropy of each channel of the softmax probabilities
  against the one-hot expert mask, each term averaged over valid pixels. End to end (§2.5):
  the SR loss also trains the prior network through the mask encoder.
- **Optimiser**: Adam, learning rate 1e-4 (§2.5), halved at regular intervals (§3.4: "decayed
  by a factor of 2 every 10 epochs" of 100).
- ``--prior false`` trains the "none-prior" ablation (§3.2) the same way, without the BCE term.
- ``--arch vdsr`` (the CPU variant, :class:`~microsr_core.models.archs.prior.PriorVDSR`): the parsing
  map guides a VDSR trunk; ``--init-parts vdsr_x4,prior`` starts every tensor whose name and
  shape match from those shipped weights (the trunk from a trained VDSR, the prior network from
  the shipped prior). ``--sr-data`` adds folders without masks (BCCD fields) whose batches train
  the SR loss only, and ``--source-weights`` says how often each folder is drawn.
- ``--arch lr_vdsr`` (:class:`~microsr_core.models.archs.prior.PriorLRVDSR`, one scale per run): the
  same design at LR resolution (space-to-depth), about 1/s² of the cost; crops then start on
  the LR grid, so that the pixel phases the network reads are those it meets at inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..models.archs.prior import PriorLRVDSR, PriorSRNet, PriorVDSR
from ..imaging.data import IMAGE_SUFFIXES, MASKS_FOLDER, dataset_layout, folder_list, interleave, list_images, split_of
from ..imaging.capture_family import CaptureFamily
from ..imaging.degrade import CaptureRanges, modcrop
from ..errors import ParameterError
from ..imaging.io import load_image
from ..imaging.metrics import mean_iou, psnr
from ..models.weights import load_weights
from ..imaging.parsing import CLASSES, mask_to_labels
from .loop import train_from_config
from .settings import RunSettings, check_config
from .task import TrainTask, captured_y_pair, context_margin, dihedral, y_pair, y_planes


@dataclass
class PriorConfig(RunSettings):
    """Every knob of a prior-network training run (one CLI flag each; saved as config.json).

    Fields left ``None`` come from the recipe: ``paper`` (§2.5, §3.4: whole images, 15000
    steps, the half-width U-Net; the default on CUDA) or ``cpu`` (the default on the CPU:
    random 96² crops, Adam 2e-4 halved every 1000 of 3000 steps, a quarter-width U-Net, which
    fits 2 cores in about an hour per model; docs/results.md has the measurements).
    ``data``: comma-separated folders, each a dataset folder holding ``images/`` and ``masks/``
    or an images folder whose masks lie in ``../masks`` (as in ``wbc_seg/dataset1``).
    """

    ARCH_FIELDS: ClassVar[tuple[str, ...]] = ("arch", "prior", "depth", "channels", "blocks", "decoder_blocks", "unet_base", "unet_depth")
    #: SR networks behind ``arch``: the paper's SR branch, a VDSR trunk (PriorVDSR), or that
    #: trunk at LR resolution (PriorLRVDSR).
    ARCHS: ClassVar[tuple[str, ...]] = ("paper", "vdsr", "lr_vdsr")
    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"steps": 15000, "batch": 8, "lr": 1e-4, "lr_halve_every": 1500, "crop": 0, "unet_base": 32},
        "cpu": {"steps": 3000, "batch": 8, "lr": 2e-4, "lr_halve_every": 1000, "crop": 96, "unet_base": 16},
    }

    #: Comma-separated mask folders, one per ``data`` folder (default: found beside the images).
    masks: str | None = None
    scales: tuple[int, ...] = (2, 4, 8)
    #: Folders of images without masks (e.g. BCCD fields): their batches train the SR loss only.
    sr_data: str | None = None
    #: Comma-separated relative draw weights, one per folder of ``data`` then ``sr_data``
    #: (default: in proportion to their training images).
    source_weights: str | None = None
    #: Comma-separated shipped weights: every tensor whose name and shape match starts from
    #: them, the first entry to have it winning (``vdsr_x4,prior`` for ``--arch vdsr``).
    init_parts: str | None = None
    arch: str = "paper"
    prior: bool = True
    depth: int = 20  # VDSR trunk layers (arch vdsr)
    batch: int | None = None
    lr: float | None = None
    lr_halve_every: int | None = None  # steps; 0: a tenth of the steps (the paper's every 10 of 100 epochs)
    charbonnier_eps: float = 1e-3
    bce_weight: float = 1.0  # lambda of eq. (3)
    channels: int = 64
    blocks: int = 3
    decoder_blocks: int = 3
    unet_base: int | None = None
    unet_depth: int = 4
    val_images: int = 0  # 0: every held-out image
    #: HR crop side of the training windows; 0: whole images (the paper).
    crop: int | None = None
    #: Share of the crops centred on a cell pixel (nucleus or cytoplasm) of the expert mask.
    cell_fraction: float = 0.8

    def __post_init__(self):
        check_config(
            self,
            positive=("batch", "depth", "channels", "blocks", "decoder_blocks", "unet_base", "unet_depth", "lr", "charbonnier_eps"),
            non_negative=("lr_halve_every", "val_images", "bce_weight", "crop"),
        )
        if self.degradation != "bicubic" and not self.crop:
            # A capture is drawn per crop; whole images would make every batch a full-field capture.
            raise ParameterError(f"degradation {self.degradation} draws a capture per crop: give --crop (e.g. the cpu recipe's 96)")
        if self.arch not in self.ARCHS:
            raise ParameterError(f"unknown arch '{self.arch}' (choose from {', '.join(self.ARCHS)})")
        if self.arch == "lr_vdsr" and len(self.scales) != 1:
            raise ParameterError(f"arch lr_vdsr serves one scale per network, got scales {','.join(map(str, self.scales))}")
        if self.arch == "lr_vdsr" and self.crop and self.crop % self.scales[0]:
            raise ParameterError(f"arch lr_vdsr needs a crop that is a multiple of the scale, got {self.crop} at x{self.scales[0]}")
        if self.init and self.init_parts:
            raise ParameterError("give --init (whole weights) or --init-parts (matching tensors), not both")
        if not 0 <= self.cell_fraction <= 1:
            raise ParameterError(f"cell_fraction must lie in [0, 1], got {self.cell_fraction}")


@dataclass(frozen=True)
class Sample:
    """One training image, its expert mask and the index of the folder it came from."""

    image: Path
    mask: Path | None  # None: an SR-only image (sr_data)
    source: int


def _sources(config: PriorConfig) -> list[tuple[Path, Path]]:
    """(images folder, masks folder) of every ``data`` entry."""
    data = folder_list(config.data)
    if not data:
        raise ParameterError("no training data given (--data: dataset folders with images and masks)")
    masks = folder_list(config.masks)
    if masks and len(masks) != len(data):
        raise ParameterError(f"--masks names {len(masks)} folders but --data names {len(data)}: give one per data folder")
    sources = []
    for index, folder in enumerate(data):
        images, found = dataset_layout(folder)
        mask_dir = masks[index] if masks else found
        if mask_dir is None or not mask_dir.is_dir():
            raise ParameterError(f"{folder}: no masks folder {mask_dir or folder / MASKS_FOLDER} (the prior network needs a mask for every image)")
        sources.append((images, mask_dir))
    for folder in folder_list(config.sr_data):
        sources.append((dataset_layout(folder)[0], None))
    return sources


def training_samples(config: PriorConfig) -> tuple[list[Sample], list[Sample]]:
    """(training, validation) samples of ``config``, validation held out by name hash.

    Cheap (lists files only); raises :class:`ParameterError` naming the folder for a folder
    without images or an image without a mask.
    """
    train, val = [], []
    for source, (images, mask_dir) in enumerate(_sources(config)):
        files = list_images(images)
        if mask_dir is None:
            masks = {p.stem: None for p in files}
        else:
            masks = {p.stem: p for p in mask_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
        missing = [p.name for p in files if p.stem not in masks]
        if missing:
            raise ParameterError(
                f"{images}: {len(missing)} of {len(files)} images have no mask in {mask_dir} (first: {', '.join(missing[:3])})"
            )
        val.append([])
        for path in files:
            part = split_of(path, config.val_fraction)
            if part != "test":  # the test split is for reports only
                (val[-1] if part == "val" else train).append(Sample(path, masks[path.stem], source))
    val = interleave(val)  # so that the first val_images come from every folder
    if not train or not val:
        raise ParameterError(f"cannot split {len(train) + len(val)} images into training and validation sets")
    return train, val[: config.val_images] if config.val_images else val


@dataclass
class Example:
    """One image at one scale: network input, target and expert labels, all (H, W)."""

    lr_up: np.ndarray  # bicubic-upsampled LR Y, float32
    hr: np.ndarray  # HR Y, float32
    labels: np.ndarray  # uint8: 0 nucleus, 1 cytoplasm, 2 background, UNLABELLED for SR-only images


def load_labelled(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """(RGB HR float32, labels) of ``sample``; labels :data:`UNLABELLED` where it has no mask."""
    hr = load_image(sample.image).pixels
    if sample.mask is None:
        return hr, np.full(hr.shape[:2], UNLABELLED, np.uint8)
    labels = mask_to_labels(load_image(sample.mask).pixels)
    if labels.shape != hr.shape[:2]:
        raise ParameterError(
            f"{sample.mask}: mask is {labels.shape[1]}x{labels.shape[0]}, image {sample.image.name} is {hr.shape[1]}x{hr.shape[0]}"
        )
    return hr, labels


def load_examples(samples: list[Sample], scales: tuple[int, ...], capture: CaptureRanges | CaptureFamily | None = None,
                  seed: int = 0) -> dict[int, list[Example]]:
    """For each scale, the :class:`Example` of every sample (HR and mask cropped to a multiple of
    the scale); with ``capture``, under one random capture per sample and scale drawn from ``seed``."""
    examples: dict[int, list[Example]] = {s: [] for s in scales}
    for index, sample in enumerate(samples):
        hr, labels = load_labelled(sample)
        for s in scales:
            pair = y_pair(hr, s) if capture is None else captured_y_pair(capture, hr, s, np.random.default_rng((seed, index, s)))
            examples[s].append(Example(*pair, modcrop(labels, s)))
    return examples


#: Label of the pixels of SR-only images (no expert mask): out of the parsing loss and IoU.
UNLABELLED = 255


def charbonnier(sr: torch.Tensor, hr: torch.Tensor, valid: torch.Tensor, eps: float) -> torch.Tensor:
    """Mean of √((sr − hr)² + ε²) over the valid pixels (LapSRN's robust loss, Hua et al. eq. 4)."""
    penalty = torch.sqrt((sr - hr) ** 2 + eps**2)
    return (penalty * valid).sum() / valid.sum()


def parsing_bce(logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each channel of ``softmax(logits)`` against one-hot ``labels``.

    ``logits`` (N, C, H, W), ``labels`` (N, H, W) int64, ``valid`` (N, 1, H, W). Averaged
    over channels and valid pixels. log p and log(1 − p) are computed from the logits
    (log-sum-exp), so the loss stays finite when a probability saturates.
    """
    logits = logits.float()
    classes = logits.shape[1]
    total = torch.logsumexp(logits, dim=1, keepdim=True)
    log_p = logits - total
    eye = torch.eye(classes, dtype=torch.bool, device=logits.device)
    # log(1 − p_c) = log Σ_{j≠c} exp(z_j) − log Σ_j exp(z_j)
    others = logits.unsqueeze(1).masked_fill(eye[None, :, :, None, None], float("-inf"))
    log_not_p = torch.logsumexp(others, dim=2) - total
    target = torch.nn.functional.one_hot(labels, classes).permute(0, 3, 1, 2).to(logits.dtype)
    bce = -(target * log_p + (1 - target) * log_not_p).mean(dim=1, keepdim=True)
    return (bce * valid).sum() / valid.sum()


def _pad_to(stack: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad (input, target, labels, valid) planes to ``height``×``width``: reflected, valid = 0 outside."""
    pad = ((0, 0), (0, height - stack.shape[1]), (0, width - stack.shape[2]))
    if not (pad[1][1] or pad[2][1]):
        return stack
    padded = np.pad(stack, pad, mode="reflect")
    padded[3] = np.pad(stack[3], pad[1:])
    return padded


class PriorTask(TrainTask):
    name = "prior"
    paper = "003_4b1e96ef8e7f4ac4.txt (Hua et al. 2020)"

    def __init__(self, config: PriorConfig):
        super().__init__(config)
        self.train_samples, self.val_samples = training_samples(config)
        if self.capture_ranges is None:
            self.train = load_examples(self.train_samples, config.scales)
        else:  # a capture is drawn anew for every crop, from the HR images (uint16: exact for 8 and 16 bit)
            labelled = [load_labelled(sample) for sample in self.train_samples]
            self.train_hr = [np.round(hr * 65535).astype(np.uint16) for hr, _ in labelled]
            self.train_labels = [labels for _, labels in labelled]
        self.val_examples = load_examples(self.val_samples, config.scales, self.capture_ranges, config.seed)
        # Batches come from one source folder (similar image sizes); folders are drawn in
        # proportion to their images, so every image is equally likely.
        sources = [sample.source for sample in self.train_samples]
        self.sources = sorted(set(sources))
        self.by_source = {s: [i for i, t in enumerate(sources) if t == s] for s in self.sources}
        self.source_p = self._source_weights(config)
        if config.arch == "lr_vdsr":
            net = self.build_network(PriorLRVDSR, scale=config.scales[0], prior=config.prior, depth=config.depth,
                                     channels=config.channels, unet_base=config.unet_base, unet_depth=config.unet_depth)
        elif config.arch == "vdsr":
            net = self.build_network(PriorVDSR, prior=config.prior, depth=config.depth, channels=config.channels,
                                     unet_base=config.unet_base, unet_depth=config.unet_depth)
        else:
            net = self.build_network(
                PriorSRNet, prior=config.prior, channels=config.channels, blocks=config.blocks, decoder_blocks=config.decoder_blocks,
                unet_base=config.unet_base, unet_depth=config.unet_depth, residual=True,
            )
        self.init_parts_note = self._init_parts(net, config.init_parts)
        self.net = net.to(memory_format=torch.channels_last)
        self.weigh_scales(lambda s: float(np.mean([self._penalty(e) for e in self._scale_examples(s)])))
        self.modules = {"net": self.net}
        #: The network validated and shipped: the moving average of its weights, or itself.
        self.shipped = self.averaged(self.net, "net_ema")
        self.forward = self.data_parallel(self.net)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.optimizers = {"adam": self.optimizer}
        self.halve_every = config.lr_halve_every or max(1, math.ceil(config.steps / 10))
        # Crops start on the LR grid where the network reads pixel phases.
        self.grid = config.scales[0] if config.arch == "lr_vdsr" else 1
        # Cell pixels (row, column) of every training image, where crops are centred.
        labels = self.train_labels if self.capture_ranges is not None else [e.labels for e in self.train[config.scales[0]]]
        self.cell_pixels = [np.argwhere(plane < CLASSES.index("background")) for plane in labels]

    def _penalty(self, e: Example) -> float:
        """Mean Charbonnier penalty of bicubic itself on ``e`` (a scale's loss weight)."""
        return float(np.mean(np.sqrt((e.lr_up - e.hr) ** 2 + self.config.charbonnier_eps**2)))

    def _scale_examples(self, scale: int) -> list[Example]:
        """Training examples of ``scale`` that weigh the scales: every image, or 64 captured crops."""
        if self.capture_ranges is None:
            return self.train[scale]
        rng = np.random.default_rng((self.config.seed, scale))
        return [Example(*self._captured_crop(int(rng.integers(len(self.train_hr))), scale, rng)) for _ in range(64)]

    def _source_weights(self, config: PriorConfig) -> np.ndarray:
        """Draw probability of each source with training images (given weights, or by image count)."""
        counts = {s: len(self.by_source.get(s, [])) for s in range(len(_sources(config)))}
        if config.source_weights:
            try:
                weights = [float(w) for w in config.source_weights.split(",")]
            except ValueError as exc:
                raise ParameterError(f"source_weights: '{config.source_weights}' is not comma-separated numbers") from exc
            if len(weights) != len(counts) or min(weights) < 0:
                raise ParameterError(f"source_weights: give {len(counts)} non-negative weights (data, then sr_data folders), got '{config.source_weights}'")
        else:
            weights = list(counts.values())
        p = np.array([weights[s] for s in self.sources], dtype=np.float64)
        if p.sum() <= 0:
            raise ParameterError("source_weights: every folder with training images has weight 0")
        return p / p.sum()

    def _init_parts(self, net: torch.nn.Module, entries: str | None) -> str | None:
        """Copy into ``net`` every tensor of the shipped ``entries`` whose name and shape match;
        a sentence for the card (which entry gave how many tensors)."""
        if not entries:
            return None
        own = net.state_dict()
        taken, notes = set(), []
        for entry in [e.strip() for e in entries.split(",") if e.strip()]:
            state, card = load_weights(entry)
            matching = {k: v for k, v in state.items() if k in own and k not in taken and own[k].shape == v.shape}
            if not matching:
                raise ParameterError(f"init_parts: no tensor of weights '{entry}' ({card.get('architecture')}) fits this network")
            net.load_state_dict(matching, strict=False)
            taken |= set(matching)
            notes.append(f"'{entry}' (sha256 {card['sha256'][:12]}, {card.get('training', {}).get('steps', '?')} steps): {len(matching)} tensors")
        fresh = len(own) - len(taken)
        return "tensors of " + "; ".join(notes) + f"; {fresh} tensors freshly initialised"
    def _window(self, index: int, shape: tuple[int, int], rng: np.random.Generator) -> tuple[slice, slice]:
        """A ``crop``² window of image ``index`` (the whole image if smaller), centred on a cell
        pixel with probability ``cell_fraction``; its corner on a multiple of ``grid``."""
        side_y, side_x = min(self.config.crop, shape[0]), min(self.config.crop, shape[1])
        cells = self.cell_pixels[index]
        if len(cells) and rng.random() < self.config.cell_fraction:
            cy, cx = cells[rng.integers(len(cells))]
            top = int(np.clip(cy - side_y // 2, 0, shape[0] - side_y))
            left = int(np.clip(cx - side_x // 2, 0, shape[1] - side_x))
        else:
            top = int(rng.integers(shape[0] - side_y + 1))
            left = int(rng.integers(shape[1] - side_x + 1))
        top, left = top - top % self.grid, left - left % self.grid
        return slice(top, top + side_y), slice(left, left + side_x)

    def _captured_crop(self, index: int, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(network input, target, labels) of a :meth:`_window` of training image ``index`` under a
        random capture, drawn with up to :data:`~.task.CAPTURE_MARGIN` LR px of context that
        :meth:`~.task.TrainTask.capture_pair` cuts off again (less on images with less room)."""
        hr, labels = modcrop(self.train_hr[index], scale), modcrop(self.train_labels[index], scale)
        rows, cols = self._window(index, hr.shape[:2], rng)
        side_y, side_x = rows.stop - rows.start, cols.stop - cols.start
        margin = max(0, context_margin(hr.shape, (side_y, side_x), scale))
        reach = margin * scale
        top = int(np.clip(rows.start, reach, hr.shape[0] - side_y - reach))
        left = int(np.clip(cols.start, reach, hr.shape[1] - side_x - reach))
        context = hr[top - reach : top + side_y + reach, left - reach : left + side_x + reach].astype(np.float32) / 65535
        lr_up, target = y_planes(*self.capture_pair(context, scale, rng, margin), scale)
        return lr_up, target, labels[top : top + side_y, left : left + side_x]

    def sample_batch(self, rng: np.random.Generator) -> tuple[int, dict[str, torch.Tensor]]:
        """(scale, {"x", "y", "labels", "valid"}) of ``batch`` images (or crops) of one folder and scale."""
        c = self.config
        scale = c.scales[rng.integers(len(c.scales))]
        pool = self.by_source[self.sources[rng.choice(len(self.sources), p=self.source_p)]]
        chosen = rng.choice(pool, size=c.batch, replace=len(pool) < c.batch)
        stacks = []
        for index in chosen:
            if self.capture_ranges is not None:
                lr_up, hr, labels = self._captured_crop(index, scale, rng)
                stack = np.stack([lr_up, hr, labels.astype(np.float32), np.ones_like(hr)])
            else:
                e = self.train[scale][index]
                stack = np.stack([e.lr_up, e.hr, e.labels.astype(np.float32), np.ones_like(e.hr)])
                if c.crop:
                    stack = stack[(slice(None), *self._window(index, e.hr.shape, rng))]
            if c.augment:
                stack = dihedral(stack, int(rng.integers(8)))
            stacks.append(stack)
        height = max(s.shape[1] for s in stacks)
        width = max(s.shape[2] for s in stacks)
        batch = np.stack([_pad_to(s, height, width) for s in stacks])
        tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        return scale, {
            "x": tensor[:, 0:1].contiguous(memory_format=torch.channels_last),
            "y": tensor[:, 1:2],
            "labels": tensor[:, 2].round().long(),
            "valid": tensor[:, 3:4],
        }

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        rate = self.set_learning_rate(step, 0.5, self.halve_every)
        scale, batch = self.sample_batch(self.draws(step))
        with self.autocast():
            out = self.forward(batch["x"])
        sr = out.sr.float()
        sr_loss = charbonnier(sr, batch["y"], batch["valid"], c.charbonnier_eps)
        losses = {"charbonnier": sr_loss}
        loss = self.scale_weights[scale] * sr_loss
        labelled = batch["valid"] * (batch["labels"] != UNLABELLED)[:, None]
        if out.parsing_logits is not None and labelled.any():
            losses["bce"] = parsing_bce(out.parsing_logits, batch["labels"].clamp_max(len(CLASSES) - 1), labelled)
            loss = loss + c.bce_weight * losses["bce"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_averages()
        with torch.no_grad():
            valid = batch["valid"]
            mse = (((sr.clamp(0, 1) - batch["y"]) ** 2) * valid).sum((1, 2, 3)) / valid.sum((1, 2, 3))
            train_psnr = float((10 * torch.log10(1 / mse.clamp_min(1e-12))).mean())
        return {"loss": loss.item(), **{k: v.item() for k, v in losses.items()}, "train_psnr_y": train_psnr, "lr": rate}

    def measure(self, scale: int, e: Example) -> dict[str, float]:
        """Y-PSNR (border = scale) of a whole held-out image, its gain over bicubic, the parsing map's mean IoU."""
        x = torch.from_numpy(e.lr_up)[None, None].to(self.device).contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out = self.shipped(x)
        value = psnr(out.sr[0, 0].float().clamp(0, 1).cpu().numpy(), e.hr, crop_border=scale)
        row = {"psnr_y": value, "gain_db": value - psnr(np.clip(e.lr_up, 0, 1), e.hr, crop_border=scale)}
        if out.parsing_logits is not None and (e.labels != UNLABELLED).all():
            row["miou"] = mean_iou(out.parsing_logits[0].argmax(0).cpu().numpy(), e.labels, len(CLASSES))
        return row

    def export(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        c = self.config
        draw = dict(zip(self.sources, self.source_p))
        folders = ", ".join(
            f"{images} ({len(self.by_source.get(i, []))} training images{', SR loss only' if masks is None else ''}, drawn {draw.get(i, 0):.0%})"
            for i, (images, masks) in enumerate(_sources(c))
        )
        what = "geometry-prior" if c.prior else "none-prior (ablation, no prior branch)"
        trunk = {"vdsr": " with a VDSR trunk (PriorVDSR)", "lr_vdsr": " with a VDSR trunk, both at LR resolution (PriorLRVDSR)"}.get(c.arch, "")
        serves = (
            f"single-scale x{c.scales[0]} model" if len(c.scales) == 1
            else f"ONE model serves x{', x'.join(map(str, c.scales))}: every training batch draws one scale"
        )
        extra = {"initialised_from": self.init_parts_note} if self.init_parts_note else {}
        return self.shipped, self.card(
            "prior" if c.prior else "prior_none",
            f"Hua et al.'s {what} SR network{trunk} on the Y channel (Cb/Cr bicubic); {serves}. "
            + ("Also returns the parsing map (nucleus, cytoplasm, background)." if c.prior else ""),
            **extra,
            data=folders,
            validation=f"{len(self.val_samples)} images held out by name hash (microsr_core.imaging.data.split, fraction {c.val_fraction})",
            batches=(
                f"{c.batch} random {c.crop}x{c.crop} HR crops of one folder and one scale, {c.cell_fraction:.0%} centred on a cell pixel of the expert mask"
                if c.crop
                else f"{c.batch} whole images of one folder and one scale, padded by reflection to the largest (padding out of the losses)"
            ),
            degradation="MATLAB bicubic downscale, LR rounded to 8 bit, bicubic upsampling as network input",  # a capture run's card says its own
            optimizer=f"Adam lr {c.lr}, halved every {self.halve_every} steps" + self.average_note(),
            loss=f"Charbonnier (eps {c.charbonnier_eps}) on Y"
            + self.scale_weights_note()
            + (f" + {c.bce_weight} x BCE of the softmax parsing map vs one-hot expert masks" if c.prior else ""),
        )


train_prior = partial(train_from_config, PriorTask)
