"""Training MicroGAN (Gautam et al. §2, §3.1–3.3): WGAN-GP on single cells, nothing resized.

Data: single cells cut from the training fields by :func:`microsr_core.cells.extract_cells`
(§3.1); the validation cells come from fields held out by :func:`microsr_core.imaging.data.split`, so
no field gives cells to both sides. Each step draws a scale from ``scales``: ``1`` makes the
paper's pair (15×15 Gaussian blur, same size), ``s >= 2`` the app's (MATLAB bicubic downscale
by s, LR rounded to 8 bit, then bicubic upscale back); the generator maps the degraded image to
the HR cell, degraded on the training device (:func:`~microsr_core.network_input.degrade_batch`).

Size invariance (§3.2): the paper trains online, one cell of its own size per step. With
``batch_pixels = 0`` we do the same; otherwise cells are *size-bucketed*: a batch holds cells
whose sides differ by less than ``bucket_ratio`` (after turning every cell upright), cropped —
never resized — to the smallest of them, with as many cells as fit ``batch_pixels``. Cells
wider than ``max_side`` are randomly cropped to it (bounded memory).

Losses (§2): critic ``D(fake) − D(real) + 10·GP`` (Gulrajani et al.), ``critic_steps`` = 4
critic updates per generator update, generator ``−D(G(x)) + λ·content`` with λ = 100; Adam,
learning rate 1e-4, β1 = 0.9. The content loss is the paper's VGG19 perceptual loss when
``vgg_weights`` names a local torchvision VGG19 file, otherwise L1 + (1 − SSIM)
(:mod:`.gan_losses` says why); the model card records which.

MicroGAN-FS (``variant = "fs"``, §3.3): the same generator with
:class:`~microsr_core.archs.microgan.FixedSizeCritic`; every cell is resized (MATLAB bicubic)
to ``fs_size``² before degradation — to the next multiple of the scale, then cropped back to
``fs_size`` for the critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..models.archs.microgan import FixedSizeCritic, MicroGANCritic, MicroGANGenerator
from ..imaging.cells import CellSettings, extract_cells
from ..imaging.data import folder_list, list_images, split
from ..imaging.degrade import Degradation, imresize, modcrop
from ..errors import ParameterError
from ..imaging.io import load_image
from ..imaging.metrics import psnr_y, ssim_y
from ..models.network_input import degrade_batch, upscale_rgb
from ..models.weights import VGG19_LAYERS, load_vgg19_features
from .gan_losses import PixelContentLoss, VGGContentLoss, gradient_penalty
from .loop import train_from_config
from .settings import RunSettings, check_config
from .task import TrainTask, dihedral
VARIANTS = ("microgan", "fs")


@dataclass
class MicroGANConfig(RunSettings):
    """Every knob of a MicroGAN training run (one CLI flag each; saved as config.json).

    Fields left ``None`` come from the recipe: ``paper`` (4 critic updates per generator
    update, 16 cells of 128² per batch, 20000 steps, every scale; the default on CUDA) or
    ``cpu`` (the default on the CPU: the paper's x1 setting alone, 1200 cheap pixel-loss steps,
    then 150 adversarial ones with 2 critic updates on 36864-pixel batches; one generator for
    x1-x4 learnt x1 far more slowly and ended below bicubic at x2; docs/results.md).
    ``data``: one folder of fields (of single cells with ``single_cells``); ``init`` starts the
    generator alone from shipped weights (the critic starts fresh).
    """

    ARCH_FIELDS: ClassVar[tuple[str, ...]] = ("variant", "levels", "width", "residual", "keep_chroma", "critic_width", "critic_downsamplings", "fs_size")
    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"scales": (1, 2, 3, 4), "steps": 20000, "critic_steps": 4, "pretrain_steps": 2000, "batch_pixels": 16 * 128 * 128, "max_batch": 32},
        "cpu": {"scales": (1,), "steps": 1350, "critic_steps": 2, "pretrain_steps": 1200, "batch_pixels": 36864, "max_batch": 8},
    }

    #: Folder of validation fields; default: fields of ``data`` held out by name hash.
    val: str | None = None
    #: 1 = the paper's same-size Gaussian blur; s >= 2 = bicubic downscale by s, bicubic up.
    scales: tuple[int, ...] | None = None
    #: ``microgan`` (size-invariant critic) or ``fs`` (MicroGAN-FS: fixed-size critic, cells resized).
    variant: str = "microgan"
    critic_steps: int | None = None
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    content_weight: float = 100.0
    #: Weight of −D(G(x)). The paper's 1 pairs with its VGG loss (pass 1 with ``vgg_weights``).
    #: The critic's gradient has norm ~1 per cell whatever the content loss, while λ·(L1 + 1 −
    #: SSIM) gives ~λ/√pixels, so with the pixel loss a weight w makes the adversarial push
    #: about w·√(pixels per cell)/λ of the content's: 0.05 gives ~0.1 on 128² cells.
    adv_weight: float = 0.05
    gp_weight: float = 10.0
    #: Local torchvision VGG19 state dict (whole or truncated) for the paper's perceptual loss.
    vgg_weights: str | None = None
    vgg_layer: str = "conv3_3"
    #: Generator updates with the content loss alone before the critic starts (0: none, as the
    #: paper); they are about 5 times cheaper than adversarial ones.
    pretrain_steps: int | None = None
    #: Pixels per size-bucketed batch (cells per batch = this / cell area); 0: one cell per step.
    batch_pixels: int | None = None
    max_batch: int | None = None
    bucket_ratio: float = 1.15
    max_side: int = 192
    min_side: int = 32
    fs_size: int = 128
    #: Every image of ``data`` is already one cell (do not extract cells from fields).
    single_cells: bool = False
    #: Comma-separated folders of single-cell images (for example wbc_seg's leukocyte close-ups)
    #: whose cells join those of ``data``; split by name hash like ``data``.
    cells: str | None = None
    #: Share of batches drawn from the ``cells`` folders (None: by their number of cells): wbc_seg's
    #: close-ups are ~6 % of the cells next to BCCD's, yet carry most of the detail bicubic loses.
    cells_share: float | None = None
    cell_pad: int = 4
    levels: int = 4
    width: int = 40
    residual: bool = True
    #: The generator returns its input's chroma and restores luma alone (no invented stain colour).
    keep_chroma: bool = False
    critic_width: int = 64
    critic_downsamplings: int = 4
    val_cells: int = 48

    def __post_init__(self):
        check_config(
            self,
            min_scale=1,
            scale_note="1 = Gaussian blur",
            positive=("critic_steps", "max_batch", "max_side", "min_side", "fs_size", "levels", "width", "critic_width", "val_cells", "lr", "content_weight"),
            non_negative=("adv_weight", "gp_weight", "pretrain_steps", "batch_pixels", "cell_pad"),
        )
        if self.variant not in VARIANTS:
            raise ParameterError(f"variant must be one of {', '.join(VARIANTS)}, got '{self.variant}'")
        if self.bucket_ratio <= 1:
            raise ParameterError(f"bucket_ratio must be > 1, got {self.bucket_ratio}")
        if self.cells_share is not None and not (0 < self.cells_share < 1 and self.cells):
            raise ParameterError(f"cells_share must be between 0 and 1 and needs cells folders, got {self.cells_share}")
        if self.min_side < max(self.scales):
            raise ParameterError(f"min_side ({self.min_side}) must be at least the largest scale")
        if self.vgg_layer not in VGG19_LAYERS:
            raise ParameterError(f"vgg_layer must be one of {', '.join(VGG19_LAYERS)}, got '{self.vgg_layer}'")


def training_files(config: MicroGANConfig) -> tuple[list[Path], list[Path]]:
    """(training, validation) image files of ``data`` and of the ``cells`` folders; a folder
    without images raises ParameterError."""
    files = list_images(config.data)
    train, val = (files, list_images(config.val)) if config.val else split(files, config.val_fraction)
    for folder in folder_list(config.cells):
        more_train, more_val = split(list_images(folder), config.val_fraction)
        train, val = train + more_train, val + more_val
    return train, val


def split_by_cell_folders(files: list[Path], config: MicroGANConfig) -> tuple[list[Path], list[Path]]:
    """``files`` outside and inside the ``cells`` folders (an image there is one cell)."""
    folders = {folder.resolve() for folder in folder_list(config.cells)}
    inside = [path.parent.resolve() in folders for path in files]
    return [p for p, i in zip(files, inside) if not i], [p for p, i in zip(files, inside) if i]


def load_cells(files: list[Path], config: MicroGANConfig) -> list[np.ndarray]:
    """Single cells of ``files`` as uint16 (H, W, 3) arrays (exact for 8- and 16-bit images),
    turned upright (H >= W), without those with a side below ``min_side``. Images in a
    ``cells`` folder are one cell each, like every image with ``single_cells``."""
    cells, in_folders = [], set(split_by_cell_folders(files, config)[1])
    for path in files:
        field = load_image(path).pixels
        crops = [field] if config.single_cells or path in in_folders else extract_cells(field, CellSettings(), pad=config.cell_pad)[1]
        for crop in crops:
            if min(crop.shape[:2]) < config.min_side:
                continue
            if crop.shape[1] > crop.shape[0]:
                crop = crop.transpose(1, 0, 2)
            cells.append(np.round(crop * 65535).astype(np.uint16))
    if not cells:
        raise ParameterError(f"no cells of at least {config.min_side} pixels found in {len(files)} images")
    return cells


def make_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(network input as the method builds it, HR) for one image on the CPU, the reference for
    :func:`degrade_batch`."""
    hr = modcrop(hr, scale)
    lr = Degradation("gaussian" if scale == 1 else "bicubic", scale).apply(hr)
    return upscale_rgb(lr, scale), hr


# --- Batches ------------------------------------------------------------------------------------


class CellSampler:
    """Draws HR batches (N, 3, H, W) of cells: size-bucketed crops, or FS resized squares. With
    ``cells_share`` set, a batch starts from one of the last ``folder_cells`` cells (those of the
    ``cells`` folders) with that probability; else every cell is equally likely."""

    def __init__(self, cells: list[np.ndarray], config: MicroGANConfig, folder_cells: int = 0):
        self.cells, self.config = cells, config
        self.first_p = None
        if config.cells_share is not None and 0 < folder_cells < len(cells):
            fields = len(cells) - folder_cells
            self.first_p = np.r_[np.full(fields, (1 - config.cells_share) / fields), np.full(folder_cells, config.cells_share / folder_cells)]
        log_ratio = math.log(config.bucket_ratio)
        self.bucket_of = [(int(math.log(min(c.shape[0], config.max_side)) / log_ratio), int(math.log(min(c.shape[1], config.max_side)) / log_ratio)) for c in cells]
        self.buckets: dict[tuple[int, int], list[int]] = {}
        for index, key in enumerate(self.bucket_of):
            self.buckets.setdefault(key, []).append(index)

    def _count(self, height: int, width: int) -> int:
        return 1 if self.config.batch_pixels == 0 else int(np.clip(self.config.batch_pixels // (height * width), 1, self.config.max_batch))

    def sample(self, rng: np.random.Generator, scale: int) -> np.ndarray:
        """A float32 (N, H, W, 3) HR batch whose sides are multiples of ``scale``."""
        c = self.config
        if c.variant == "fs":
            side = -(-c.fs_size // scale) * scale
            chosen = rng.choice(len(self.cells), size=min(self._count(c.fs_size, c.fs_size), len(self.cells)), replace=False, p=self.first_p)
            batch = [np.clip(imresize(self.cells[i].astype(np.float32) / 65535, output_shape=(side, side)), 0, 1) for i in chosen]
            return self._augment(np.stack(batch), rng)
        first = int(rng.integers(len(self.cells)) if self.first_p is None else rng.choice(len(self.cells), p=self.first_p))
        others = [m for m in self.buckets[self.bucket_of[first]] if m != first]
        count = min(self._count(*(min(side, c.max_side) for side in self.cells[first].shape[:2])) - 1, len(others))
        chosen = [first] + (list(rng.choice(others, size=count, replace=False)) if count > 0 else [])
        height = min(min(self.cells[i].shape[0] for i in chosen), c.max_side)
        width = min(min(self.cells[i].shape[1] for i in chosen), c.max_side)
        height, width = height - height % scale, width - width % scale
        corners = [(int(rng.integers(self.cells[i].shape[0] - height + 1)), int(rng.integers(self.cells[i].shape[1] - width + 1))) for i in chosen]
        batch = [self.cells[i][top : top + height, left : left + width] for i, (top, left) in zip(chosen, corners)]
        return self._augment(np.stack(batch).astype(np.float32) / 65535, rng)

    def _augment(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One of the 8 flips/rotations, the same for the whole (N, H, W, 3) batch."""
        return dihedral(batch, int(rng.integers(8)), axes=(1, 2)) if self.config.augment else batch


# --- The task -----------------------------------------------------------------------------------


class MicroGANTask(TrainTask):
    name = "microgan"
    paper = "004_67d765c92f46390f.txt (Gautam et al., MicroGAN)"

    def __init__(self, config: MicroGANConfig):
        super().__init__(config)
        c = config
        if self.world_size > 1:
            # The double backward of the gradient penalty does not go through DistributedDataParallel.
            raise ParameterError("MicroGAN trains in a single process; run it with one process (nproc 1)")
        self.train_files, self.val_files = training_files(c)
        field_files, folder_files = split_by_cell_folders(self.train_files, c)
        field_cells, folder_cells = (load_cells(files, c) if files else [] for files in (field_files, folder_files))
        self.sampler = CellSampler(field_cells + folder_cells, c, len(folder_cells))
        val_cells = load_cells(self.val_files, c)
        picks = np.linspace(0, len(val_cells) - 1, min(c.val_cells, len(val_cells))).round().astype(int)
        self.val_cells = [val_cells[i].astype(np.float32) / 65535 for i in picks]
        ranges = self.capture_ranges
        self.val_examples = {
            s: [make_pair(cell, s) if ranges is None else self._capture_input(*ranges.pair(modcrop(cell, s), s, np.random.default_rng((c.seed, s, i))), s)
                for i, cell in enumerate(self.val_cells)]
            for s in c.scales
        }
        chroma = {"keep_chroma": True} if c.keep_chroma else {}  # absent when off: the cards before it stay equal
        self.generator = self.build_network(MicroGANGenerator, levels=c.levels, width=c.width, residual=c.residual, **chroma)
        critic_cls, size = (FixedSizeCritic, {"size": c.fs_size}) if c.variant == "fs" else (MicroGANCritic, {})
        self.critic = critic_cls(width=c.critic_width, downsamplings=c.critic_downsamplings, **size).to(self.device)
        if c.vgg_weights:
            features = load_vgg19_features(c.vgg_weights, c.vgg_layer)
            self.content = VGGContentLoss(features, c.vgg_layer, Path(c.vgg_weights).name).to(self.device)
        else:
            self.content = PixelContentLoss().to(self.device)
        self.weigh_scales(self._input_content_loss)
        self.modules = {"generator": self.generator, "critic": self.critic}
        #: The generator validated and shipped: the moving average of its weights, or itself.
        self.shipped = self.averaged(self.generator, "generator_ema")
        betas = (c.beta1, c.beta2)
        self.optimizers = {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=betas),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=c.lr, betas=betas),
        }

    def batch(self, scale: int | None = None, rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(network input, HR, scale) on the device; the scale is drawn unless given."""
        rng = self.rng if rng is None else rng
        if scale is None:
            scale = self.config.scales[int(rng.integers(len(self.config.scales)))]
        cells = self.sampler.sample(rng, scale)
        if self.capture_ranges is not None:
            # Each cell its own random capture, on the CPU (the capture's JPEG and Poisson steps are numpy's).
            x, hr = (np.stack(part) for part in zip(*(self._capture_input(*self.capture_ranges.pair(cell, scale, rng), scale) for cell in cells)))
            return self._to_device(x), self._to_device(hr), scale
        hr = self._to_device(cells)
        return degrade_batch(hr, scale), hr, scale

    def _to_device(self, images: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) float32 -> (N, 3, H, W) on the training device."""
        return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(self.device, non_blocking=True)

    @staticmethod
    def _capture_input(lr: np.ndarray, target: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(network input as the method builds it, target) of a captured LR and its target."""
        return upscale_rgb(lr, scale), target

    @torch.no_grad()
    def _input_content_loss(self, scale: int, batches: int = 16) -> float:
        """Mean content loss of the degraded input itself at ``scale`` (its own generator, so
        the training draws stay as they are)."""
        rng = np.random.default_rng((self.config.seed, scale))
        return float(np.mean([self.content(*self.batch(scale, rng)[:2]).item() for _ in range(batches)]))

    def critic_view(self, images: torch.Tensor) -> torch.Tensor:
        """What the critic sees: FS crops the (scale-rounded) square back to ``fs_size``."""
        if self.config.variant == "fs":
            return images[..., : self.config.fs_size, : self.config.fs_size]
        return images

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        adversarial = step >= c.pretrain_steps and c.adv_weight > 0
        logs: dict[str, float] = {}
        if adversarial:
            self.critic.requires_grad_(True)
            for _ in range(c.critic_steps):
                x, hr, _ = self.batch()
                with torch.no_grad(), self.autocast():
                    fake = self.generator(x).float()
                real_v, fake_v = self.critic_view(hr), self.critic_view(fake)
                with self.autocast():
                    d_real = self.critic(real_v).float().mean()
                    d_fake = self.critic(fake_v).float().mean()
                    penalty = gradient_penalty(self.critic, real_v, fake_v).float()
                critic_loss = d_fake - d_real + c.gp_weight * penalty
                self.optimizers["critic"].zero_grad(set_to_none=True)
                critic_loss.backward()
                self.optimizers["critic"].step()
            logs.update(critic_loss=critic_loss.item(), wasserstein=(d_real - d_fake).item(), gradient_penalty=penalty.item())
            self.critic.requires_grad_(False)
        x, hr, scale = self.batch()
        with self.autocast():
            sr = self.generator(x).float()
        content = self.content(sr, hr)
        loss = c.content_weight * self.scale_weights[scale] * content
        if adversarial:
            with self.autocast():
                adversarial_loss = -self.critic(self.critic_view(sr)).float().mean()
            loss = loss + c.adv_weight * adversarial_loss
            logs["adversarial"] = adversarial_loss.item()
        self.optimizers["generator"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["generator"].step()
        self.update_averages()
        mse = torch.mean((sr.detach() - hr) ** 2).item()
        logs.update(content=content.item(), generator_loss=loss.item(), train_psnr_rgb=10 * math.log10(1 / max(mse, 1e-12)), cells=float(x.shape[0]))
        return logs

    def measure(self, scale: int, pair: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
        """PSNR/SSIM on Y (border = scale) of a whole held-out cell (network input, HR), and the gain over the input."""
        x, hr = pair
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        with self.autocast():
            sr = self.shipped(tensor)[0].float().cpu().numpy().transpose(1, 2, 0)
        value = psnr_y(sr, hr, scale)
        return {"psnr_y": value, "gain_db": value - psnr_y(x, hr, scale), "ssim_y": ssim_y(sr, hr, scale)}

    def export(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        c = self.config
        fs = c.variant == "fs"
        critic = (
            f"FixedSizeCritic (FC 1024 + ReLU + FC 1 on {c.fs_size}x{c.fs_size}; cells resized, MATLAB bicubic)"
            if fs
            else "MicroGANCritic (LeakyReLU CNN + global average pooling; cells at their own size)"
        )
        batching = "one cell per step (online)" if c.batch_pixels == 0 and not fs else (
            f"{c.batch_pixels} pixels per batch (at most {c.max_batch} cells)"
            + ("" if fs else f", size buckets of ratio {c.bucket_ratio}, crops (never resizes) to the smallest cell, sides <= {c.max_side}")
        )
        return self.shipped, self.card(
            "microgan_fs" if fs else "microgan",
            card_summary(fs, tuple(c.scales), c.degradation),
            data=f"{c.data}" + (f" + single cells of {c.cells}" if c.cells else "")
            + (f" ({c.cells_share:.0%} of the batches start from those)" if c.cells_share is not None else "")
            + f" ({len(self.train_files)} images, {len(self.sampler.cells)} cells)",
            validation=(c.val or f"{len(self.val_files)} fields held out by name hash (microsr_core.imaging.data.split)")
            + f", {len(self.val_cells)} whole cells",
            content_loss=self.content.description + self.scale_weights_note(),
            loss=f"-D(G(x)) x {c.adv_weight} + {c.content_weight} x content; critic D(fake) - D(real) + {c.gp_weight} x GP (per-sample norm)",
            critic=f"{critic}, {c.critic_steps} updates per generator update",
            pretrain_steps=c.pretrain_steps,
            batches=batching,
            optimizer=f"Adam lr {c.lr}, betas ({c.beta1}, {c.beta2})" + self.average_note("the generator"),
        )


def card_summary(fs: bool, scales: tuple[int, ...], degradation: str) -> str:
    """What one MicroGAN card is, in words that tell it from its siblings (the cards share an architecture)."""
    tasks = (["x1 deblurring (15x15 Gaussian blur, same size)"] if 1 in scales else []) + (
        [f"{'/'.join(f'x{s}' for s in scales if s > 1)} SR (the LR upscaled bicubic, then restored)"] if max(scales) > 1 else [])
    kind = {
        "microscope": "realistic microscope captures (optics blur, noise, JPEG)",
        "family": "a family of microscope camera pipelines (PSF shapes, Bayer demosaicing, in-camera denoising and sharpening, JPEG)",
    }.get(degradation, "MATLAB-bicubic LR")
    return (("MicroGAN-FS ablation (fixed-size critic): " if fs else "MicroGAN: ")
            + f"trimmed U-Net generator trained as a WGAN-GP on single cells for {' and '.join(tasks)}"
            + (f" of {kind}." if max(scales) > 1 else "."))


train_microgan = partial(train_from_config, MicroGANTask)
