"""One precision policy for inference and training: which dtype the convolutions run in.

- ``fp32``: plain float32 everywhere.
- ``bf16`` / ``fp16``: autocast of the network's forward pass to that dtype; losses, the final
  residual add done by the caller and every metric stay float32.
- ``auto``: on the CPU, bf16 when the processor has native bf16 (AVX-512 BF16 or AMX) *and* a
  short measured probe runs a bf16 convolution faster than fp32 (AVX2-only processors emulate
  bf16 and run it about 8x slower); fp32 otherwise. On CUDA, bf16 where the GPU supports it,
  else fp16 (fp16 overflows to inf in deep residual nets, the black-output failure of other SR
  tools, so it is never picked when bf16 is there).

The probe runs once per process (cached) and takes about a second.

For inference, :func:`image_convs_in_fp32` keeps the convolutions that read the image itself in
float32: bf16 has 8 significant bits, so casting a Y plane near 0.5 to bf16 moves it by up to
1/512 (half an 8-bit level) and the network amplifies that into its residual; with the shipped
VDSR on BCCD crops it cost up to 0.03 dB Y-PSNR at x2, and 0.006 dB with the first layer in
float32.
"""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import torch

from ..errors import ParameterError
from .choices import PRECISION_CHOICES

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: bf16 must beat fp32 by this factor in the probe to be chosen (noise margin).
_PROBE_MARGIN = 1.15


def cpu_flags() -> set[str]:
    """The processor's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def has_native_bf16() -> bool:
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _time_convs(repeats: int = 5) -> tuple[float, float]:
    """Best-of times (fp32, bf16) of a 64->64 3x3 convolution on a 64x96x96 channels-last input,
    the two measured in turn: timed one after the other, a load that came or went between them
    (a training on the other core) decided the probe, which then said bf16 was slower on an AMX CPU
    in two of three runs."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 96, 96).contiguous(memory_format=torch.channels_last)
    best = {torch.float32: float("inf"), torch.bfloat16: float("inf")}
    with torch.no_grad():
        for dtype in best:  # warm-up: oneDNN picks and compiles its kernel here
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                conv(x)
        for _ in range(repeats):
            for dtype in best:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                    began = time.perf_counter()
                    for _ in range(4):
                        conv(x)
                    best[dtype] = min(best[dtype], time.perf_counter() - began)
    return best[torch.float32], best[torch.bfloat16]


@functools.lru_cache(maxsize=1)
def cpu_probe() -> dict[str, float | bool]:
    """Measured fp32 and bf16 convolution times on this CPU, and whether bf16 wins (on a CPU with
    AMX it always does, 4-5x: a loaded machine's timings are not allowed to say otherwise)."""
    if not has_native_bf16():
        return {"native_bf16": False, "bf16_faster": False}
    fp32, bf16 = _time_convs()
    return {"native_bf16": True, "fp32_s": fp32, "bf16_s": bf16,
            "bf16_faster": "amx_bf16" in cpu_flags() or bf16 * _PROBE_MARGIN < fp32}


def checked_choice(choice: str | None) -> str:
    """``choice`` in lower case, ``auto`` when empty; an unknown one is a :class:`ParameterError`."""
    choice = (choice or "auto").lower()
    if choice not in PRECISION_CHOICES:
        raise ParameterError(f"unknown precision '{choice}' (choose from {', '.join(PRECISION_CHOICES)})")
    return choice


def resolve_precision(choice: str, device: torch.device) -> str:
    """The precision (``fp32``, ``bf16`` or ``fp16``) that ``choice`` means on ``device``."""
    choice = checked_choice(choice)
    if device.type == "cuda":
        if choice == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return choice
    if choice == "fp16":
        raise ParameterError("precision fp16 is for CUDA; on the CPU choose bf16, fp32 or auto")
    if choice == "auto":
        return "bf16" if cpu_probe()["bf16_faster"] else "fp32"
    return choice


def autocast(precision: str, device: torch.device):
    """Context manager running the enclosed forward pass in ``precision`` (no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


class Float32Conv(torch.nn.Module):
    """Runs the wrapped convolution in float32 even inside an autocast region."""

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.conv(x.float())


#: Convolutions with at most this many input channels read an image (Y, RGB or class
#: probabilities), not features; in float32 they cost at most 3/64 of a 64-channel layer.
IMAGE_CHANNELS = 3
#: Attribute that marks a convolution reading an image through more channels (the s² pixel
#: phases of a space-to-depth input, :class:`~microsr_core.models.archs.prior.PriorLRVDSR`).
READS_IMAGE = "reads_image"


def image_convs_in_fp32(net: torch.nn.Module) -> torch.nn.Module:
    """Wrap every convolution of ``net`` that reads an image in :class:`Float32Conv` (in place).

    Call it after the weights are loaded: the wrapper renames the parameters (``conv.`` prefix).
    """
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, torch.nn.Conv2d) and (child.in_channels <= IMAGE_CHANNELS or getattr(child, READS_IMAGE, False)):
                setattr(parent, name, Float32Conv(child))
    return net


def describe_precision(precision: str, device: torch.device) -> str:
    """Human text for model cards and the app, with the probe figures on the CPU."""
    if precision == "fp32":
        text = "float32"
    else:
        text = f"{'bfloat16' if precision == 'bf16' else 'float16'} autocast (losses and metrics float32)"
    if device.type == "cpu":
        probe = cpu_probe()
        if "fp32_s" in probe:
            text += f"; CPU probe: bf16 conv {probe['fp32_s'] / probe['bf16_s']:.2f}x the speed of fp32"
        else:
            text += "; CPU without native bf16"
    return text
