"""Geometry-prior SR network of Hua et al. 2020 (``shared/papers/003_…``, §2.1, §2.2, §2.4, Fig. 1).

Two networks trained end to end:

- :class:`ParsingUNet`, the *prior network* (§2.1): a U-Net (Ronneberger et al. 2015) with half
  of its channels (32, 64, 128, 256, 512) and zero-padded 3×3 convolutions, so that the parsing
  map has the size of its input. Input: the bicubic-upsampled LR image (Y); output: logits of
  the three classes nucleus, cytoplasm, background (in that channel order).
- :class:`PriorSRNet`, the *SR network* (§2.2, §2.4): a shallow feature extractor (3×3 conv +
  LeakyReLU 0.2, 64 channels), an LR feature encoder of three residual blocks, a mask encoder of
  the same depth over the parsing map, and an SR decoder over the concatenation of shallow, deep
  and mask features (192 channels) that ends in a 1×1 convolution to one channel. With
  ``prior=False`` it is the paper's "none-prior" ablation (Fig. 1b, §3.2): no prior network and
  no mask encoder, so the decoder sees 128 channels.

The paper's text does not say how deep the decoder is; it counts "6 blocks in total in the SR
branch" (§3.4), which we read as three encoder and three decoder residual blocks. It does not
say whether the output adds the bicubic input back; we do (``residual=True``), as VDSR does,
and start the last layer at zero so that an untrained network returns bicubic.

:class:`PriorVDSR` is the CPU variant (issue 25): the same prior network, whose parsing map a
small mask encoder adds to the first feature layer of a VDSR trunk (Kim et al. 2016, the
project's ``vdsr``). Its layers are named as VDSR's, so the trunk starts from a trained VDSR,
and the mask encoder's last layer starts at zero, so the untrained prior branch changes
nothing: on 2 CPU cores the paper's SR branch trained from scratch stayed 3–4 dB behind VDSR
at x4 (docs/results.md), which left the prior's own claim (that the map helps) untestable.

:class:`PriorLRVDSR` (issue 26) runs both networks at LR resolution: the bicubic-upsampled
input is cut into its s² pixel phases (space-to-depth), the U-Net and a VDSR-shaped trunk work
on those, and depth-to-space brings the parsing logits and the residual back to HR. It costs
about 1/s² of :class:`PriorVDSR`, whose U-Net and trunk run at HR size (the slowest method of
a comparison), and the upsampled input loses nothing: it is a linear function of the LR image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..precision import READS_IMAGE
from .padding import pad_to_multiple
from .registry import register_architecture
from .vdsr import VDSR

#: Channel order of the parsing map (Hua et al. §2.1: nucleus, cytoplasm, background).
PARSING_CLASSES = ("nucleus", "cytoplasm", "background")

_SLOPE = 0.2  # LeakyReLU negative slope (§2.2)


def _conv_act(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 zero-padded convolution followed by LeakyReLU(0.2): the paper's "orange block"."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(_SLOPE, inplace=True))


class ResidualBlock(nn.Module):
    """Two conv + LeakyReLU units and an identity skip, no batch norm (the "green block", §2.2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv_act(channels, channels), _conv_act(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _DoubleConv(nn.Sequential):
    """U-Net unit: two 3×3 convolutions with ReLU, zero padding (sizes kept)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )


@register_architecture
class ParsingUNet(nn.Module):
    """U-Net prior network: (N, 1, H, W) image -> (N, classes, H, W) parsing logits.

    ``base`` channels at full resolution, doubling at each of ``depth`` 2×2 max-poolings
    (``base=32, depth=4`` is half of Ronneberger's 64…1024); 2×2 transposed convolutions
    upsample and skip connections concatenate. Any input size works: the input is padded by
    edge replication to a multiple of ``2**depth`` and the output cropped back.
    """

    def __init__(self, *, in_channels: int = 1, classes: int = 3, base: int = 32, depth: int = 4):
        super().__init__()
        if depth < 1 or base < 1:
            raise ValueError(f"U-Net needs depth >= 1 and base >= 1, got depth={depth}, base={base}")
        widths = [base * 2**level for level in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList()
        previous = in_channels
        for width in widths[:-1]:
            self.down.append(_DoubleConv(previous, width))
            previous = width
        self.bottom = _DoubleConv(widths[-2], widths[-1])
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            self.upsample.append(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
            self.up.append(_DoubleConv(2 * widths[level], widths[level]))
        self.head = nn.Conv2d(widths[0], classes, 1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @property
    def receptive_radius(self) -> int:
        """Output-to-input reach in pixels (conservative: counts every pooling phase).

        At level ``l`` (``2**l`` pixels per cell) a 3×3 convolution reaches ``2**l`` pixels,
        and a pooling or an upsampling can shift a pixel's parent by up to ``2**l`` more.
        """
        encoder = sum(3 * 2**level for level in range(self.depth))  # two convs + pool per level
        bottom = 2 * 2**self.depth
        decoder = encoder  # upsample + two convs per level
        return encoder + bottom + decoder

    pad_mode = "replicate"

    @property
    def size_multiple(self) -> int:
        """Input sides that need no padding (see :mod:`microsr_core.models.archs.padding`)."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        x = pad_to_multiple(x, self.size_multiple, self.pad_mode)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips)):
            x = block(torch.cat([skip, upsample(x)], dim=1))
        return self.head(x)[..., :height, :width]


class PriorSROutput(NamedTuple):
    """``sr``: (N, 1, H, W) Y; ``parsing_logits``: (N, 3, H, W), or None without the prior."""

    sr: torch.Tensor
    parsing_logits: torch.Tensor | None


class _PaddedForItsPrior:
    """Inputs padded as the parsing U-Net needs (to its pooling multiple); none without the prior."""

    prior_net: ParsingUNet | None
    pad_mode = ParsingUNet.pad_mode

    @property
    def size_multiple(self) -> int:
        return self.prior_net.size_multiple if self.prior_net is not None else 1


@register_architecture
class PriorSRNet(_PaddedForItsPrior, nn.Module):
    """Hua et al.'s SR network with (``prior=True``) or without its prior branch.

    Input: (N, 1, H, W) Y of the bicubic-upsampled LR image, in [0, 1] (MATLAB YCbCr scaling).
    Output: :class:`PriorSROutput`; the parsing probabilities are ``softmax(parsing_logits)``
    over the channel axis (nucleus, cytoplasm, background) and are what the mask encoder sees.

    Parameters
    ----------
    prior : bool
        Build the prior network and the mask encoder (False: the "none-prior" ablation).
    channels : int
        Feature channels of every convolution but the last (64 in the paper).
    blocks : int
        Residual blocks of the LR feature encoder and of the mask encoder (3 in the paper).
    decoder_blocks : int
        Residual blocks of the SR decoder (our reading of the paper: 3).
    unet_base, unet_depth : int
        Prior network width and number of poolings (32 and 4: half of Ronneberger's U-Net).
    residual : bool
        Add the input to the output (the network predicts the missing detail).
    """

    def __init__(
        self,
        *,
        prior: bool = True,
        channels: int = 64,
        blocks: int = 3,
        decoder_blocks: int = 3,
        unet_base: int = 32,
        unet_depth: int = 4,
        residual: bool = True,
    ):
        super().__init__()
        self.prior = prior
        self.residual = residual
        self.shallow = _conv_act(1, channels)
        self.lr_encoder = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        if prior:
            self.prior_net = ParsingUNet(in_channels=1, classes=len(PARSING_CLASSES), base=unet_base, depth=unet_depth)
            self.mask_encoder = nn.Sequential(
                _conv_act(len(PARSING_CLASSES), channels), *[ResidualBlock(channels) for _ in range(blocks)]
            )
        else:
            self.prior_net = None
            self.mask_encoder = None
        streams = 3 if prior else 2
        self.decoder = nn.Sequential(
            _conv_act(streams * channels, channels), *[ResidualBlock(channels) for _ in range(decoder_blocks)]
        )
        self.tail = nn.Conv2d(channels, 1, 1)
        # The radius the SR branch adds: its longest chain of 3×3 convolutions (the mask path).
        self._sr_radius = 1 + 2 * blocks + 1 + 2 * decoder_blocks
        for module in [self.shallow, self.lr_encoder, self.mask_encoder, self.decoder, self.tail]:
            for conv in (module.modules() if module is not None else []):
                if isinstance(conv, nn.Conv2d):
                    nn.init.kaiming_normal_(conv.weight, a=_SLOPE, nonlinearity="leaky_relu")
                    nn.init.zeros_(conv.bias)
        if residual:
            nn.init.zeros_(self.tail.weight)

    @property
    def receptive_radius(self) -> int:
        """Output-to-input reach in pixels of the upsampled image (through the prior if any)."""
        return self._sr_radius + (self.prior_net.receptive_radius if self.prior_net is not None else 0)

    def forward(self, y: torch.Tensor) -> PriorSROutput:
        shallow = self.shallow(y)
        features = [shallow, self.lr_encoder(shallow)]
        logits = None
        if self.prior_net is not None:
            logits = self.prior_net(y)
            features.append(self.mask_encoder(torch.softmax(logits, dim=1)))
        out = self.tail(self.decoder(torch.cat(features, dim=1)))
        # Under autocast the tail is bf16/fp16; the output and the residual add stay float32.
        out = out.float()
        if self.residual:
            out = y + out
        return PriorSROutput(out, logits)


def mask_encoder(probabilities: int, channels: int) -> nn.Sequential:
    """Class probabilities to trunk features: a 3×3 convolution (He-initialised, kept float32
    like an image reader), ReLU, and a 3×3 convolution started at zero, so that an untrained
    branch changes nothing."""
    encoder = nn.Sequential(nn.Conv2d(probabilities, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, padding=1))
    setattr(encoder[0], READS_IMAGE, True)
    nn.init.kaiming_normal_(encoder[0].weight, nonlinearity="relu")
    for conv in (encoder[0], encoder[2]):
        nn.init.zeros_(conv.bias)
    nn.init.zeros_(encoder[2].weight)
    return encoder


@register_architecture
class PriorVDSR(_PaddedForItsPrior, nn.Module):
    """The prior network's parsing map guiding a VDSR trunk (see the module docstring).

    Input and output as :class:`PriorSRNet`. ``body`` is VDSR's layer list (``depth`` 3×3
    convolutions, ReLU between, the last one to the residual), so a VDSR state dict loads into
    it by name. With ``prior``, after the first convolution and its ReLU the trunk's features
    get ``mask_encoder(softmax(prior_net(y)))`` added: a 3×3 convolution of the three class
    probabilities to ``channels`` features, ReLU, and a 3×3 convolution started at zero.
    ``prior=False`` is the none-prior ablation: the same trunk alone.
    """

    def __init__(self, *, prior: bool = True, depth: int = 20, channels: int = 64, unet_base: int = 16, unet_depth: int = 4):
        super().__init__()
        self.prior = prior
        self.depth = depth
        self.body = VDSR(depth=depth, channels=channels).body
        if prior:
            self.prior_net = ParsingUNet(in_channels=1, classes=len(PARSING_CLASSES), base=unet_base, depth=unet_depth)
            self.mask_encoder = mask_encoder(len(PARSING_CLASSES), channels)
        else:
            self.prior_net = None
            self.mask_encoder = None

    @property
    def receptive_radius(self) -> int:
        prior = self.prior_net.receptive_radius + 2 if self.prior_net is not None else 0
        return self.depth + prior

    def forward(self, y: torch.Tensor) -> PriorSROutput:
        features = self.body[1](self.body[0](y))
        logits = None
        if self.prior_net is not None:
            logits = self.prior_net(y)
            features = features + self.mask_encoder(torch.softmax(logits, dim=1))
        for layer in self.body[2:]:
            features = layer(features)
        # Under autocast the residual is bf16/fp16; the add stays float32 (see precision.py).
        return PriorSROutput(y + features.float(), logits)


@register_architecture
class PriorLRVDSR(nn.Module):
    """:class:`PriorVDSR`'s design at LR resolution, for one ``scale`` (see the module docstring).

    Input and output as :class:`PriorSRNet`: (N, 1, H, W) bicubic-upsampled Y, whose pixel
    phases line up with the LR grid (H and W multiples of ``scale``; other sizes are padded).
    ``pixel_unshuffle`` makes it (N, s², H/s, W/s); ``body`` is a VDSR of ``depth`` layers on
    those s² channels, whose output is depth-to-space'd to the HR residual. With ``prior``, the
    U-Net reads the same s² channels and predicts 3·s² logits, depth-to-space'd to the HR
    parsing map; its softmax, cut into phases again, goes through the mask encoder (a 3×3
    convolution, ReLU and a 3×3 convolution started at zero) into the trunk's first features.
    """

    input_channels = 1
    pad_mode = ParsingUNet.pad_mode

    def __init__(self, *, scale: int, prior: bool = True, depth: int = 20, channels: int = 64, unet_base: int = 16, unet_depth: int = 4):
        super().__init__()
        if scale < 2:
            raise ValueError(f"PriorLRVDSR needs scale >= 2, got {scale}")
        self.scale, self.prior, self.depth = scale, prior, depth
        phases = scale * scale
        self.body = VDSR(depth=depth, channels=channels, image_channels=phases).body
        setattr(self.body[0], READS_IMAGE, True)
        if prior:
            classes = len(PARSING_CLASSES)
            self.prior_net = ParsingUNet(in_channels=phases, classes=classes * phases, base=unet_base, depth=unet_depth)
            setattr(self.prior_net.down[0][0], READS_IMAGE, True)
            self.mask_encoder = mask_encoder(classes * phases, channels)
        else:
            self.prior_net = None
            self.mask_encoder = None

    @property
    def size_multiple(self) -> int:
        """HR sides that need no padding: whole LR pixels, each pooled ``2**unet_depth`` times by the U-Net."""
        return self.scale * (self.prior_net.size_multiple if self.prior_net is not None else 1)

    @property
    def feature_stride(self) -> int:
        """Every activation is at LR resolution (``microsr_core.models.inference.default_tile``)."""
        return self.scale

    @property
    def receptive_radius(self) -> int:
        """Output-to-input reach in HR pixels: LR-pixel reaches times the scale, plus the phase cell."""
        prior = self.prior_net.receptive_radius + 2 if self.prior_net is not None else 0
        return (self.depth + prior + 1) * self.scale

    def forward(self, y: torch.Tensor) -> PriorSROutput:
        height, width = y.shape[-2:]
        y = pad_to_multiple(y, self.size_multiple, self.pad_mode)
        phases = F.pixel_unshuffle(y, self.scale)
        features = self.body[1](self.body[0](phases))
        logits = None
        if self.prior_net is not None:
            logits = F.pixel_shuffle(self.prior_net(phases), self.scale)
            probabilities = F.pixel_unshuffle(torch.softmax(logits, dim=1), self.scale)
            features = features + self.mask_encoder(probabilities)
            logits = logits[..., :height, :width]
        for layer in self.body[2:]:
            features = layer(features)
        # Under autocast the residual is bf16/fp16; the add stays float32 (see precision.py).
        sr = y + F.pixel_shuffle(features, self.scale).float()
        return PriorSROutput(sr[..., :height, :width], logits)
